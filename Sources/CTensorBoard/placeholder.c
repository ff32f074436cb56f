// Generated TensorBoard protobuf-c messages (being written).
#include "CTensorBoard.h"

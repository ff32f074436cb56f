// The protobuf-c runtime (pkg-config libprotobuf-c), for TensorBoard event records.
#include <protobuf-c/protobuf-c.h>

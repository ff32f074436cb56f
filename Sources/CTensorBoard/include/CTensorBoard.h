// Umbrella header of the CTensorBoard module: the protoc-c generated TensorBoard messages (tensorboard.proto).
#pragma once
#include "tensorboard.pb-c.h"

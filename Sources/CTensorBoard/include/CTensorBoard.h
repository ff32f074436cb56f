// Umbrella header of the generated TensorBoard protobuf-c messages (being written).
#pragma once

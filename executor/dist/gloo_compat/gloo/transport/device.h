#pragma once
// zeroplan gloo_compat (see ../../README.md): opaque; held through shared_ptr/unique_ptr only.
namespace gloo::transport {
class Device;
class UnboundBuffer;
}  // namespace gloo::transport

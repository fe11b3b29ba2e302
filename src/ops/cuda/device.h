// ops/cuda/device.h — the CUDA device layer: is there a GPU, streams, device memory that counts its
// bytes, and error checks that throw si::Error with CUDA's own message.
//
//   if (!si::cuda::available()) return;                // CPU-only machine: nothing to do
//   si::cuda::Stream s;
//   si::cuda::DeviceBuffer buf(n * sizeof(float), "x");  // (n) f32
//   buf.upload(host.data(), buf.bytes(), s);  ...  buf.download(out.data(), buf.bytes(), s); s.sync();
//   si::cuda::DeviceArena weights("weights");          // many tensors, one exact byte count
//   SI_CUDA_CHECK(cudaMemsetAsync(p, 0, n, s.get()));
//
// Every allocation made here is counted (bytes_allocated()), so VRAM figures in reports are sums of
// what we asked for, not guesses from the driver.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include <cuda_runtime.h>

namespace si::cuda {

// True when a CUDA device can be used; false (never throws) on machines without a GPU or driver.
bool available();
// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)"; requires available().
std::string device_description();
// The current device's compute capability as 10 * major + minor (90 for sm_90); requires available().
int compute_capability();
// Whether pointers (and a row stride of `ld` elements of `bytes` each) allow 16-byte accesses
// (vector loads in the kernels, cuBLASLt's FP8 operands).
inline bool aligned16(std::initializer_list<const void*> ps, int64_t ld = 0, int64_t bytes = 1) {
  uintptr_t a = uintptr_t(ld * bytes);
  for (const void* p : ps) a |= reinterpret_cast<uintptr_t>(p);
  return a % 16 == 0;
}
// Bytes currently held by DeviceBuffer / DeviceArena allocations of this process.
size_t bytes_allocated();

// Programmatic dependent launch (sm_90; common.cuh's launch_pdl): on by default; off makes every
// such launch an ordinary one, for A/B measurements. Graphs captured keep the choice they saw.
void set_pdl(bool on);
bool pdl_enabled();

// Throws si::Error "<what> failed at <file>:<line>: <CUDA error string>".
void check_status(cudaError_t status, const char* what, const char* file, int line);
// After a kernel launch: reports launch-configuration errors at the launch site.
void check_launch(const char* kernel, const char* file, int line);

class Stream {
 public:
  Stream();
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return s_; }
  void sync() const;

 private:
  cudaStream_t s_ = nullptr;
};

// One device allocation of a fixed size.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes, std::string name = "buffer");
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return p_; }
  template <typename T> T* as() const { return static_cast<T*>(p_); }
  size_t bytes() const { return n_; }
  // Copies on stream `s` (host memory must stay valid until the stream reaches the copy).
  void upload(const void* host, size_t bytes, const Stream& s, size_t offset = 0);
  void download(void* host, size_t bytes, const Stream& s, size_t offset = 0) const;

 private:
  void release();
  void* p_ = nullptr;
  size_t n_ = 0;
  std::string name_;
};

// Bump allocator over device chunks (like core/arena.h): weights, KV cache, activations.
class DeviceArena {
 public:
  explicit DeviceArena(std::string name, size_t chunk_bytes = size_t(256) << 20);
  void* alloc_bytes(size_t n, size_t align = 256);
  template <typename T> T* alloc(size_t count) { return static_cast<T*>(alloc_bytes(count * sizeof(T))); }
  const std::string& name() const { return name_; }
  size_t bytes_used() const { return used_; }
  size_t bytes_reserved() const { return reserved_; }

 private:
  std::string name_;
  size_t chunk_bytes_;
  std::vector<DeviceBuffer> chunks_;
  size_t offset_ = 0;  // in the last chunk
  size_t used_ = 0;
  size_t reserved_ = 0;
};

}  // namespace si::cuda

#define SI_CUDA_CHECK(call) ::si::cuda::check_status((call), #call, __FILE__, __LINE__)
#define SI_CUDA_LAUNCHED(kernel) ::si::cuda::check_launch(kernel, __FILE__, __LINE__)

#include "ops/cuda/device.h"

#include <atomic>
#include <filesystem>

#include <fmt/format.h>

#include "core/error.h"

namespace si::cuda {
namespace {

std::atomic<size_t> g_bytes{0};
std::atomic<bool> g_pdl{true};

}  // namespace

bool available() {
  int n = 0;
  // No driver or no device: an error code (cudaErrorNoDevice / InsufficientDriver), never a throw.
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return false;
  }
  return n > 0;
}

std::string device_description() {
  int dev = 0;
  SI_CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp p{};
  SI_CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
  return fmt::format("{} (sm_{}{}, {} SMs, {:.1f} GiB)", p.name, p.major, p.minor, p.multiProcessorCount,
                     double(p.totalGlobalMem) / double(1 << 30));
}

int compute_capability() {
  int dev = 0, major = 0, minor = 0;
  SI_CUDA_CHECK(cudaGetDevice(&dev));
  SI_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  SI_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
  return 10 * major + minor;
}

size_t bytes_allocated() { return g_bytes.load(); }

void set_pdl(bool on) { g_pdl.store(on); }
bool pdl_enabled() { return g_pdl.load(); }

void check_status(cudaError_t status, const char* what, const char* file, int line) {
  if (status == cudaSuccess) return;
  const std::string where = std::filesystem::path(file).filename().string();
  throw Error(fmt::format("CUDA: {} failed at {}:{}: {} ({})", what, where, line, cudaGetErrorString(status),
                          cudaGetErrorName(status)))
      .hint(status == cudaErrorMemoryAllocation ? "use fewer slots / a smaller batch or capacity"
                                                : "check that the GPU and driver work (nvidia-smi)");
}

void check_launch(const char* kernel, const char* file, int line) {
  check_status(cudaGetLastError(), kernel, file, line);
}

Stream::Stream() { SI_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
Stream::~Stream() {
  if (s_) cudaStreamDestroy(s_);
}
void Stream::sync() const { SI_CUDA_CHECK(cudaStreamSynchronize(s_)); }

DeviceBuffer::DeviceBuffer(size_t bytes, std::string name) : n_(bytes), name_(std::move(name)) {
  if (n_ == 0) return;
  const cudaError_t e = cudaMalloc(&p_, n_);
  if (e != cudaSuccess) {
    p_ = nullptr;
    check_status(e, fmt::format("cudaMalloc of {:.1f} MiB for {} ({:.1f} MiB held)", double(bytes) / 1048576.0,
                                name_, double(g_bytes.load()) / 1048576.0).c_str(), __FILE__, __LINE__);
  }
  g_bytes += n_;
}

DeviceBuffer::~DeviceBuffer() { release(); }

void DeviceBuffer::release() {
  if (p_) {
    cudaFree(p_);
    g_bytes -= n_;
  }
  p_ = nullptr;
  n_ = 0;
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), n_(o.n_), name_(std::move(o.name_)) {
  o.p_ = nullptr;
  o.n_ = 0;
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    release();
    p_ = o.p_;
    n_ = o.n_;
    name_ = std::move(o.name_);
    o.p_ = nullptr;
    o.n_ = 0;
  }
  return *this;
}

void DeviceBuffer::upload(const void* host, size_t bytes, const Stream& s, size_t offset) {
  SI_CHECK(offset + bytes <= n_, "{}: upload of {} bytes at offset {} overruns its {} bytes", name_, bytes, offset, n_);
  SI_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(p_) + offset, host, bytes, cudaMemcpyHostToDevice, s.get()));
}

void DeviceBuffer::download(void* host, size_t bytes, const Stream& s, size_t offset) const {
  SI_CHECK(offset + bytes <= n_, "{}: download of {} bytes at offset {} overruns its {} bytes", name_, bytes, offset,
           n_);
  SI_CUDA_CHECK(cudaMemcpyAsync(host, static_cast<const char*>(p_) + offset, bytes, cudaMemcpyDeviceToHost, s.get()));
}

DeviceArena::DeviceArena(std::string name, size_t chunk_bytes) : name_(std::move(name)), chunk_bytes_(chunk_bytes) {}

void* DeviceArena::alloc_bytes(size_t n, size_t align) {
  if (n == 0) n = 1;
  if (!chunks_.empty()) {
    const size_t p = (offset_ + align - 1) & ~(align - 1);
    if (p + n <= chunks_.back().bytes()) {
      used_ += p + n - offset_;
      offset_ = p + n;
      return static_cast<char*>(chunks_.back().data()) + p;
    }
  }
  const size_t want = n > chunk_bytes_ ? ((n + 4095) & ~size_t(4095)) : chunk_bytes_;
  chunks_.emplace_back(want, name_);
  reserved_ += want;
  used_ += n;
  offset_ = n;
  return chunks_.back().data();
}

}  // namespace si::cuda

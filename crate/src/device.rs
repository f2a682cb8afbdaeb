//! Compute devices: the only file that names backends.
//!
//! Model, data and training code take a [`Device`] and never ask which backend it is. The CPU
//! backend is burn's `flex` (also in wasm); `wgpu` (Vulkan/Metal/DX12 natively, WebGPU in the
//! browser) and `cuda` are cargo features. GPU devices are initialised once per process and cached:
//! a second WebGPU initialisation fails in the browser, and re-creating a native one wastes seconds.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

pub use burn::tensor::Device;

/// Makes the process's allocator keep freed memory for reuse instead of returning it to the
/// system, for the CPU backend's sake: a training step frees and re-allocates many buffers of
/// megabytes (activations and their gradients), which glibc by default serves with fresh `mmap`s
/// or trims back, so every reuse paid page faults and zeroing (with ResNet-20 on the digits, 130 k
/// to 590 k page faults per epoch, and 5-10 % of the time). Buffers up to 32 MiB now come from the
/// heap, and the heap is not trimmed: peak memory is unchanged, but it is not handed back until
/// exit. Called once at start by the native runner; an application embedding edgetune may call
/// it too. A no-op except on Linux with glibc.
pub fn tune_host_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

/// Which compute backend runs the work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn's pure-Rust CPU backend (multi-threaded, SIMD).
    #[default]
    Cpu,
    /// wgpu: Vulkan, Metal or DX12 natively; WebGPU in a browser.
    Wgpu,
    /// NVIDIA CUDA.
    Cuda,
}

impl std::str::FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" | "flex" => Ok(Backend::Cpu),
            "wgpu" | "gpu" | "vulkan" | "metal" | "webgpu" => Ok(Backend::Wgpu),
            "cuda" => Ok(Backend::Cuda),
            other => Err(Error::config(format!("unknown device '{other}': expected cpu, wgpu or cuda"))),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Cpu => "cpu",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
        })
    }
}

/// Backends compiled into this build.
pub fn available() -> Vec<Backend> {
    let mut v = vec![Backend::Cpu];
    if cfg!(feature = "wgpu") {
        v.push(Backend::Wgpu);
    }
    if cfg!(feature = "cuda") {
        v.push(Backend::Cuda);
    }
    v
}

/// Initialises (once) and returns the device for `backend`.
pub async fn init(backend: Backend) -> Result<Device> {
    match backend {
        Backend::Cpu => Ok(Device::flex()),
        Backend::Wgpu => wgpu_device().await,
        Backend::Cuda => cuda_device(),
    }
}

#[cfg(feature = "wgpu")]
async fn wgpu_device() -> Result<Device> {
    use std::sync::Mutex;
    static CACHED: Mutex<Option<Device>> = Mutex::new(None);
    if let Some(d) = CACHED.lock().ok().and_then(|g| g.clone()) {
        return Ok(d);
    }
    // Adapter discovery can panic inside wgpu when no driver is installed: turn that into an error.
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| Error::Backend(format!("no usable wgpu adapter ({e}); install a Vulkan/Metal driver or use --device cpu")))?;
    if let Ok(mut g) = CACHED.lock() {
        *g = Some(device.clone());
    }
    Ok(device)
}

#[cfg(not(feature = "wgpu"))]
async fn wgpu_device() -> Result<Device> {
    Err(Error::Backend("this build has no wgpu support: rebuild with `--features wgpu`".into()))
}

#[cfg(feature = "cuda")]
fn cuda_device() -> Result<Device> {
    Ok(Device::cuda(0))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> Result<Device> {
    Err(Error::Backend("this build has no CUDA support: rebuild with `--features cuda`".into()))
}

/// Seeds the backend's random generator (dropout masks). Seeding per step keeps a resumed run
/// identical to an uninterrupted one.
pub fn seed(device: &Device, seed: u64) {
    device.seed(seed);
}

/// Drives a future to completion on the current thread (native). The core is async so that the
/// browser can await GPU reads; natively every read is ready at once or blocks inside the backend.
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Thread(std::thread::Thread);
    impl Wake for Thread {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Thread(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// Reads a tensor back to the host as `f32` values, awaiting the device (never a synchronous read:
/// that panics in the browser). `what` names the tensor in errors.
pub async fn read_f32<const D: usize>(t: burn::tensor::Tensor<D>, what: &str) -> Result<Vec<f32>> {
    let data = t.into_data_async().await.map_err(|e| Error::Backend(format!("reading {what}: {e:?}")))?;
    data.convert::<f32>().try_into_vec::<f32>().map_err(|e| Error::Backend(format!("reading {what}: {e:?}")))
}

/// Whether tensors on `device` live in host memory (the CPU backend): then a fused host loop
/// beats a chain of tensor operations, and reading a tensor back costs only a copy.
pub fn is_host(device: &Device) -> bool {
    *device == Device::flex()
}

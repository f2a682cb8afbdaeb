//! What the host (CPU backend) operations share: when they apply, reading a burn tensor's f32
//! values, making tensors from vectors, and filling a fresh buffer from several threads.
//!
//! Kernels here write every element of their outputs, so outputs are allocated uninitialised:
//! a zeroed allocation costs a serial `memset` on the calling thread (5 % of a ResNet-20 step).

use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Device, Tensor, TensorData};
use std::mem::MaybeUninit;

/// Whether tensors on these devices with these element types can take the host operations
/// (the CPU backend, with or without autodiff, f32).
pub fn on_host_f32(devices: &[Device], dtypes: &[DType]) -> bool {
    let host = |d: &Device| *d == Device::flex() || *d == Device::flex().autodiff();
    devices.iter().all(host) && dtypes.iter().all(|t| *t == DType::F32)
}

/// Whether every tensor is on the CPU backend in f32.
pub fn tensors_on_host<const D: usize>(tensors: &[&Tensor<D>]) -> bool {
    let devices: Vec<Device> = tensors.iter().map(|t| t.device()).collect();
    let dtypes: Vec<DType> = tensors.iter().map(|t| t.dtype()).collect();
    on_host_f32(&devices, &dtypes)
}

/// The f32 elements of `t` in row-major order (a copy only when `t` is a strided view).
pub fn host_f32(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("contiguous f32").to_vec()),
    }
}

pub fn flex<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// A vector of `len` values that `fill` writes, every one of them (it receives the spare
/// capacity; the vector is only given its length afterwards).
pub fn filled(len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut v = Vec::with_capacity(len);
    fill(&mut v.spare_capacity_mut()[..len]);
    // SAFETY: `fill`'s contract is to initialise all `len` elements; f32 has no invalid bits.
    unsafe { v.set_len(len) };
    v
}

/// Runs `f` compiled for the widest SIMD this CPU has (AVX2 or AVX-512 on x86), for the loops
/// it inlines: the crate is built for baseline x86-64, where they would get SSE2 only.
#[inline(always)]
pub fn simd<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}

/// A raw pointer that threads may share because each writes a disjoint part of the buffer.
#[derive(Clone, Copy)]
pub struct Shared<T>(pub *mut T);

// SAFETY: users write disjoint ranges only (documented at each use).
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// # Safety
    /// `start..start + len` must lie in the buffer and no other thread may touch it meanwhile.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, start: usize, len: usize) -> &mut [T] {
        unsafe { std::slice::from_raw_parts_mut(self.0.add(start), len) }
    }
}

/// Deterministic test values in [-1, 1] (xorshift), for the host kernels' tests.
#[cfg(test)]
pub fn test_values(len: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

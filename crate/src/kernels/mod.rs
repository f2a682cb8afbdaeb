//! Backend extensions: operations the model code calls as plain tensor operations, which run as
//! hand-written host kernels on the CPU backend (f32) and as burn's own operations elsewhere. The
//! model code never asks which backend runs them.
//!
//! - [`conv2d`]: 2-D convolution, im2col + GEMM on the host (`conv.rs`).
//! - [`depthwise_conv2d`]: one filter per channel (MobileNet's), direct loops (`depthwise.rs`).
//!   Both are one burn operation with its own backward pass (`conv_op.rs`).
//! - [`batch_norm_train`]: training-mode batch norm fused with a residual add and a ReLU or ReLU6.

pub mod batch_norm;
pub mod conv;
mod conv_op;
pub mod depthwise;
pub(crate) mod host;

pub use batch_norm::{batch_norm_train, Act};
pub use conv_op::{conv2d, depthwise_conv2d};

//! Backend extensions: operations the model code calls as plain tensor operations, which run as
//! hand-written host kernels on the CPU backend (f32) and as burn's own operations elsewhere. The
//! model code never asks which backend runs them.
//!
//! - [`conv2d`]: 2-D convolution, im2col + GEMM on the host, with its own backward pass.
//! - [`depthwise_conv2d`]: one filter per channel (MobileNet's), direct loops, own backward pass.
//! - [`batch_norm_train`]: training-mode batch norm fused with a residual add and a ReLU or ReLU6.

pub mod batch_norm;
pub mod conv;
pub mod depthwise;
pub(crate) mod host;

pub use batch_norm::{batch_norm_train, Act};
pub use conv::conv2d;
pub use depthwise::depthwise_conv2d;

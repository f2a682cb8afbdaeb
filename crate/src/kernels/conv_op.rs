//! The host convolutions as burn operations: [`conv2d`] and [`depthwise_conv2d`] run the host
//! kernels (`conv.rs`: im2col + GEMM; `depthwise.rs`: direct loops) on the CPU backend in f32,
//! with their own backward pass under autodiff, and burn's `conv2d` elsewhere. One backend
//! extension serves both kernels: they differ only in which kernel a [`Kernel`] names. A
//! convolution the kernels do not take (another element type, a non-square filter, a filter
//! larger than the padded input) runs as burn's own operation, backward pass included.

use super::host::{flex, host_f32, on_host_f32};
use super::{conv, depthwise};
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::TensorMetadata;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex};
use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor};

/// `conv2d(x, weight)` with `stride` and `pad` on both axes (no bias, groups or dilation).
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, stride: usize, pad: usize) -> Tensor<4> {
    op(x, weight, stride, pad, false)
}

/// A depthwise `conv2d(x, weight)` (`weight [c, 1, k, k]`, one filter per channel of `x`: PyTorch's
/// `groups = channels`) with `stride` and `pad` on both axes, no bias.
pub fn depthwise_conv2d(x: Tensor<4>, weight: Tensor<4>, stride: usize, pad: usize) -> Tensor<4> {
    op(x, weight, stride, pad, true)
}

fn op(x: Tensor<4>, weight: Tensor<4>, stride: usize, pad: usize, depthwise: bool) -> Tensor<4> {
    if on_host_f32(&[x.device(), weight.device()], &[x.dtype(), weight.dtype()]) {
        Tensor::from_dispatch(<Dispatch as HostConv>::host_conv2d(x.into_dispatch(), weight.into_dispatch(), stride, pad, depthwise))
    } else {
        let groups = if depthwise { weight.dims()[0] } else { 1 };
        burn_conv2d(x, weight, None, ConvOptions::new([stride; 2], [pad; 2], [1, 1], groups))
    }
}

/// burn's options for the same convolution.
fn options(weight: &impl TensorMetadata, stride: usize, pad: usize, depthwise: bool) -> ConvOptions<2> {
    let groups = if depthwise { weight.shape().dims::<4>()[0] } else { 1 };
    ConvOptions::new([stride; 2], [pad; 2], [1, 1], groups)
}

/// The host convolution as a burn backend operation, with its own backward pass under autodiff.
#[backend_extension(Flex, Autodiff)]
pub trait HostConv: Backend {
    fn host_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, stride: usize, pad: usize, depthwise: bool) -> FloatTensor<Self>;
}

/// A convolution a host kernel takes, with its geometry.
#[derive(Clone, Copy, Debug)]
enum Kernel {
    Dense(conv::Geom),
    Depthwise(depthwise::Geom),
}

impl Kernel {
    /// The kernel for input `x` `[n, c, h, w]` and `weight` (`[o, c, k, k]`, or `[c, 1, k, k]`
    /// depthwise), if one takes them: f32, a square filter that fits the padded input.
    fn of(x: &impl TensorMetadata, weight: &impl TensorMetadata, stride: usize, pad: usize, depthwise: bool) -> Option<Self> {
        let [n, c, h, w] = x.shape().dims();
        let [o, wc, kh, kw] = weight.shape().dims();
        let k = kh;
        let fits = x.dtype() == DType::F32 && weight.dtype() == DType::F32 && kh == kw && h + 2 * pad >= k && w + 2 * pad >= k && stride > 0;
        match (fits, depthwise) {
            (false, _) => None,
            (true, false) => (wc == c).then_some(Kernel::Dense(conv::Geom { n, c, h, w, o, k, stride, pad })),
            (true, true) => (o == c && wc == 1).then_some(Kernel::Depthwise(depthwise::Geom { n, c, h, w, k, stride, pad })),
        }
    }

    /// `y` `[n, o, ho, wo]`.
    fn forward(self, x: &FlexTensor, w: &FlexTensor) -> FlexTensor {
        let (x, w) = (host_f32(x), host_f32(w));
        match self {
            Kernel::Dense(g) => flex(conv::forward(&g, &x, &w), [g.n, g.o, g.ho(), g.wo()]),
            Kernel::Depthwise(g) => flex(depthwise::forward(&g, &x, &w), [g.n, g.c, g.ho(), g.wo()]),
        }
    }

    /// `dL/dx` `[n, c, h, w]` from `dL/dy`.
    fn backward_x(self, w: &FlexTensor, dy: &[f32]) -> FlexTensor {
        let w = host_f32(w);
        match self {
            Kernel::Dense(g) => flex(conv::backward_x(&g, &w, dy), [g.n, g.c, g.h, g.w]),
            Kernel::Depthwise(g) => flex(depthwise::backward_x(&g, &w, dy), [g.n, g.c, g.h, g.w]),
        }
    }

    /// `dL/dweight` (the weight's shape) from `dL/dy`.
    fn backward_w(self, x: &FlexTensor, dy: &[f32]) -> FlexTensor {
        let x = host_f32(x);
        match self {
            Kernel::Dense(g) => flex(conv::backward_w(&g, &x, dy), [g.o, g.c, g.k, g.k]),
            Kernel::Depthwise(g) => flex(depthwise::backward_w(&g, &x, dy), [g.c, 1, g.k, g.k]),
        }
    }
}

impl HostConv for Flex {
    fn host_conv2d(x: FlexTensor, weight: FlexTensor, stride: usize, pad: usize, depthwise: bool) -> FlexTensor {
        match Kernel::of(&x, &weight, stride, pad, depthwise) {
            Some(kernel) => kernel.forward(&x, &weight),
            // burn's own operation says what is wrong with the shapes, or runs other types.
            None => {
                let options = options(&weight, stride, pad, depthwise);
                Flex::conv2d(x, weight, None, options)
            }
        }
    }
}

#[derive(Debug)]
struct HostConvBackward;

impl Backward<Flex, 2> for HostConvBackward {
    /// The checkpointed input and weight, and the kernel.
    type State = (NodeId, NodeId, Kernel);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x_state, w_state, kernel) = ops.state;
        let x: FlexTensor = checkpointer.retrieve_node_output(x_state);
        let w: FlexTensor = checkpointer.retrieve_node_output(w_state);
        let dy = host_f32(&dy);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, kernel.backward_x(&w, &dy));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, kernel.backward_w(&x, &dy));
        }
    }
}

impl<C: CheckpointStrategy> HostConv for Autodiff<Flex, C> {
    fn host_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, stride: usize, pad: usize, depthwise: bool) -> FloatTensor<Self> {
        let Some(kernel) = Kernel::of(&x, &weight, stride, pad, depthwise) else {
            let options = options(&weight, stride, pad, depthwise);
            return <Self as ModuleOps<Self>>::conv2d(x, weight, None, options);
        };
        match HostConvBackward.prepare::<C>([x.node(), weight.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let w_state = prep.checkpoint(&weight);
                let y = kernel.forward(&x.into_primitive(), &weight.into_primitive());
                prep.finish((x_state, w_state, kernel), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(kernel.forward(&x.into_primitive(), &weight.into_primitive())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::host::test_values as values;
    use burn::tensor::{Device, TensorData};

    /// A convolution no host kernel takes (a 3×1 filter) runs as burn's own operation under
    /// autodiff too: its values and gradients are burn's.
    #[test]
    fn other_shapes_fall_back_to_burn_with_its_backward() {
        let dev = Device::flex();
        let x0 = Tensor::<4>::from_data(TensorData::new(values(2 * 4 * 6 * 6, 3), [2, 4, 6, 6]), &dev);
        let w0 = Tensor::<4>::from_data(TensorData::new(values(5 * 4 * 3, 4), [5, 4, 3, 1]), &dev);
        let run = |ours: bool| {
            let (x, w) = (x0.clone().autodiff().require_grad(), w0.clone().autodiff().require_grad());
            let y = if ours { conv2d(x.clone(), w.clone(), 1, 1) } else { burn_conv2d(x.clone(), w.clone(), None, ConvOptions::new([1; 2], [1; 2], [1, 1], 1)) };
            let grads = (y.clone() * y.clone()).sum().backward();
            let flat = |t: Tensor<4>| t.into_data().try_into_vec::<f32>().unwrap();
            (flat(y.without_autodiff()), flat(x.grad(&grads).unwrap()), flat(w.grad(&grads).unwrap()))
        };
        assert_eq!(run(true), run(false));
    }
}

//! BERT (Hugging Face `BertModel`, `modeling_bert.py`): embeddings, post-LayerNorm transformer
//! layers, and the pooler `BertForSequenceClassification` puts before its classifier. Parameter
//! names are the checkpoint's without the `bert.` of a sequence-classification checkpoint
//! (`encoder.layer.{i}.attention.self.query.weight`), which this family adds and strips itself
//! ([`load`], `Body::export_key`). The encoder is shared by the families with BERT's
//! architecture under other names (RoBERTa, XLM-RoBERTa, DistilBERT, MPNet: their folders give
//! a [`Variant`]; MPNet's adds a relative position bias to every layer's attention scores). Golden values: `tests/golden/make_model_golden.py` (`tests/golden.rs`).

mod body;
pub mod config;
mod load;
mod relative;

pub use config::{BertConfig, FieldNames, BERT_FIELDS};
pub use load::{load, load_variant};

use crate::model::head::PoolerAct;
use crate::model::layers::{attention, dropout, Dense, Dropout, Norm};
use crate::model::params::{ParamId, ParamStore};
use crate::model::vars::Vars;
use crate::error::Result;
use burn::tensor::module::embedding;
use burn::tensor::{Int, Tensor};

#[derive(Clone, Debug)]
struct Layer {
    query: Dense,
    key: Dense,
    value: Dense,
    attn_out: Dense,
    attn_norm: Norm,
    intermediate: Dense,
    output: Dense,
    out_norm: Norm,
}

impl Layer {
    /// Layer `i` at `vars` (`encoder.layer.{i}`), its sub-modules as the variant names them.
    fn load(mut vars: Vars, c: &BertConfig, variant: &Variant) -> Result<Self> {
        let [q, k, v, o, attn_norm, inter, out, out_norm] = variant.names;
        let (h, i, eps) = (c.hidden_size, c.intermediate_size, c.layer_norm_eps);
        Ok(Layer {
            query: Dense::load(vars.pp(q), h, h)?,
            key: Dense::load(vars.pp(k), h, h)?,
            value: Dense::load(vars.pp(v), h, h)?,
            attn_out: Dense::load(vars.pp(o), h, h)?,
            attn_norm: Norm::load(vars.pp(attn_norm), h, eps)?,
            intermediate: Dense::load(vars.pp(inter), h, i)?,
            output: Dense::load(vars.pp(out), i, h)?,
            out_norm: Norm::load(vars.pp(out_norm), h, eps)?,
        })
    }
}

/// What sets a BERT-architecture family apart (BERT itself; RoBERTa and XLM-RoBERTa in
/// `text/roberta` reuse this encoder): names, position offset, where its head lives, and how
/// its export loads in transformers.
#[derive(Debug)]
pub struct Variant {
    /// `model_type` of an export.
    pub family: &'static str,
    /// What people call it.
    pub name: &'static str,
    /// The sequence-classification checkpoint's prefix before the encoder's keys.
    pub prefix: &'static str,
    /// Where position ids start.
    pub positions: Positions,
    /// Store (and checkpoint) names of the head: the classifier and the pooler before it.
    pub classifier: &'static str,
    pub pooler: &'static str,
    /// How the pooler's output is activated (BERT, RoBERTa: tanh; DistilBERT: ReLU).
    pub pooler_act: PoolerAct,
    /// `model_type` values of its `config.json`, and what it calls the sizes.
    pub model_types: &'static [&'static str],
    pub fields: &'static FieldNames,
    /// Where the layers are (`encoder.layer`), and each layer's sub-modules in the order query,
    /// key, value, attention output, its norm, feed-forward in, out, its norm.
    pub layers: &'static str,
    pub names: [&'static str; 8],
    /// The tokenizer models its checkpoints come with (`WordPiece`, `BPE`, `Unigram`): another
    /// kind of tokenizer.json gives ids the embedding was not trained on.
    pub tokenizers: &'static [&'static str],
    /// The transformers class of a first-token-pooled export.
    pub architecture: &'static str,
    /// Its classes in [`super::MODELING`] (a mean-pooled export's model code): the model and
    /// its config.
    pub mean_classes: (&'static str, &'static str),
    /// MPNet's relative position bias, shared by every layer: the table's module name
    /// (`encoder.relative_attention_bias`, `[buckets, heads]`); None for absolute positions only.
    pub relative_bias: Option<&'static str>,
}

/// The first position id of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Positions {
    FromZero,
    /// After the config's `pad_token_id` (RoBERTa: `padding_idx + 1`).
    AfterPad,
    /// After this padding index whatever the config says (transformers' MPNet: 1, so 2).
    AfterIndex(usize),
}

/// `BertLayer`'s sub-modules.
pub const BERT_NAMES: [&str; 8] = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "attention.output.LayerNorm",
    "intermediate.dense",
    "output.dense",
    "output.LayerNorm",
];

/// BERT (`BertForSequenceClassification`).
pub static BERT: Variant = Variant {
    family: "bert",
    name: "BERT",
    prefix: "bert.",
    positions: Positions::FromZero,
    classifier: "classifier",
    pooler: "pooler.dense",
    pooler_act: PoolerAct::Tanh,
    model_types: &["bert"],
    fields: &BERT_FIELDS,
    layers: "encoder.layer",
    names: BERT_NAMES,
    tokenizers: &["WordPiece"],
    architecture: "BertForSequenceClassification",
    mean_classes: ("EdgetuneBertForSequenceClassification", "EdgetuneBertConfig"),
    relative_bias: None,
};

#[derive(Clone, Debug)]
pub struct Bert {
    pub config: BertConfig,
    pub variant: &'static Variant,
    word: ParamId,
    position: ParamId,
    token_type: Option<ParamId>,
    relative_bias: Option<ParamId>,
    emb_norm: Norm,
    layers: Vec<Layer>,
}

impl Variant {
    /// The linear sub-modules of one encoder layer with their `(out, in)` sizes, for hidden size
    /// `h` and intermediate size `i`.
    pub fn linear_shapes(&self, h: usize, i: usize) -> [(&'static str, usize, usize); 6] {
        let n = &self.names;
        [(n[0], h, h), (n[1], h, h), (n[2], h, h), (n[3], h, h), (n[5], i, h), (n[6], h, i)]
    }
}

impl Bert {
    /// The encoder at `vars` (the root of the checkpoint's names without the task model's
    /// prefix): `embeddings`, MPNet's relative position bias, then the layers.
    pub fn load(mut vars: Vars, config: &BertConfig, variant: &'static Variant) -> Result<Self> {
        let c = config;
        let h = c.hidden_size;
        let mut emb = vars.pp("embeddings");
        let word = emb.tensor("word_embeddings.weight", &[c.vocab_size, h])?;
        let position = emb.tensor("position_embeddings.weight", &[c.max_position_embeddings, h])?;
        let token_type = (c.type_vocab_size > 0).then(|| emb.tensor("token_type_embeddings.weight", &[c.type_vocab_size, h])).transpose()?;
        let emb_norm = Norm::load(emb.pp("LayerNorm"), h, c.layer_norm_eps)?;
        let relative_bias = match variant.relative_bias {
            Some(table) => Some(vars.pp(table).tensor("weight", &[c.relative_attention_num_buckets, c.num_attention_heads])?),
            None => None,
        };
        let mut layers = vars.pp(variant.layers);
        let layers = (0..c.num_hidden_layers).map(|l| Layer::load(layers.pp(l), c, variant)).collect::<Result<Vec<_>>>()?;
        Ok(Bert { config: config.clone(), variant, word, position, token_type, relative_bias, emb_norm, layers })
    }

    /// The encoder's linear layers as (module name, sub-module kind, layer), e.g.
    /// (`encoder.layer.0.attention.self.query`, `attention.self.query`, ..): where LoRA attaches.
    pub fn linears_mut(&mut self) -> Vec<(String, &'static str, &mut Dense)> {
        let mut out = Vec::new();
        let kinds = self.variant.linear_shapes(0, 0).map(|(k, _, _)| k);
        for (l, layer) in self.layers.iter_mut().enumerate() {
            let denses = [&mut layer.query, &mut layer.key, &mut layer.value, &mut layer.attn_out, &mut layer.intermediate, &mut layer.output];
            for (kind, dense) in kinds.into_iter().zip(denses) {
                out.push((format!("{}.{l}.{kind}", self.variant.layers), kind, dense));
            }
        }
        out
    }

    /// The first position id: 0, or for RoBERTa-style models `padding_idx + 1` (their position
    /// ids count from after the padding id; with right padding, real tokens get
    /// `padding_idx + 1 ..`, which is what `create_position_ids_from_input_ids` gives them).
    pub fn position_offset(&self) -> usize {
        match self.variant.positions {
            Positions::FromZero => 0,
            Positions::AfterPad => self.config.pad_token_id + 1,
            Positions::AfterIndex(i) => i + 1,
        }
    }

    /// The most tokens a text can have: the position table's rows after the offset.
    pub fn max_tokens(&self) -> usize {
        self.config.max_position_embeddings.saturating_sub(self.position_offset()).max(1)
    }

    /// Last hidden states `[batch, seq, hidden]` for token ids `[batch, seq]` and a 0/1 attention
    /// mask `[batch, seq]`; `seq` at most [`Bert::max_tokens`].
    pub fn forward(&self, p: &ParamStore, ids: Tensor<2, Int>, mask: Tensor<2>, drop: Option<Dropout>) -> Tensor<3> {
        let [batch, seq] = ids.dims();
        let hidden = self.config.hidden_size;
        let heads = self.config.num_attention_heads;
        let hd = drop.map_or(0.0, |d| d.hidden);
        let train = drop.is_some();
        let ad = drop.map_or(0.0, |d| d.attention);

        let words = embedding(p.t2(self.word), ids); // [batch, seq, hidden]
        let positions = p.t2(self.position).narrow(0, self.position_offset(), seq).reshape([1, seq, hidden]);
        let mut x = words + positions; // [batch, seq, hidden]
        if let Some(token_type) = self.token_type {
            x = x + p.t2(token_type).narrow(0, 0, 1).reshape([1, 1, hidden]);
        }
        let mut x = dropout(self.emb_norm.forward(p, x), hd);

        // Padding positions get a large negative score so softmax gives them zero weight.
        let mask_bias = (mask.neg() + 1.0).mul_scalar(-1e9).reshape([batch, 1, 1, seq]);
        let attn_bias = match self.relative_bias {
            Some(table) => mask_bias + relative::bias(p.t2(table), seq, heads), // [batch, heads, seq, seq]
            None => mask_bias,
        };

        for layer in &self.layers {
            let q = layer.query.forward_with(p, x.clone(), train); // [batch, seq, hidden]
            let k = layer.key.forward_with(p, x.clone(), train);
            let v = layer.value.forward_with(p, x.clone(), train);
            let ctx = attention(q, k, v, heads, Some(attn_bias.clone()), ad); // [batch, seq, hidden]
            let attn = dropout(layer.attn_out.forward_with(p, ctx, train), hd);
            x = layer.attn_norm.forward(p, attn + x);

            let inter = layer.intermediate.forward_with(p, x.clone(), train); // [batch, seq, intermediate]
            let inter = self.config.hidden_act.forward(inter);
            let out = dropout(layer.output.forward_with(p, inter, train), hd);
            x = layer.out_norm.forward(p, out + x);
        }
        x
    }
}

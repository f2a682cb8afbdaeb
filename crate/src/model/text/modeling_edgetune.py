"""edgetune's exported text classifiers for Hugging Face transformers.

The family's own `...ForSequenceClassification` (BERT, RoBERTa, XLM-RoBERTa, DistilBERT, MPNet) whose
pooling is configurable (`classifier_pooling` in config.json): "mean" averages the last hidden
states over real tokens and applies the last linear layer of the head (the export has no
pooler / `classifier.dense` / `pre_classifier`: mean pooling does not use them), "cls" is the
family's usual head on the first token. Load with:

    AutoModelForSequenceClassification.from_pretrained(path, trust_remote_code=True)
"""
import torch
from transformers import (BertConfig, BertForSequenceClassification, BertModel, DistilBertConfig,
                          DistilBertForSequenceClassification, MPNetConfig, MPNetForSequenceClassification,
                          RobertaConfig, RobertaForSequenceClassification, XLMRobertaConfig,
                          XLMRobertaForSequenceClassification)
from transformers.modeling_outputs import SequenceClassifierOutput


def _mean(model):
    return getattr(model.config, "classifier_pooling", "cls") == "mean"


def _mean_forward(model, body, linear, dropout, input_ids, attention_mask, labels, **inputs):
    """Mean-pooled logits of `body`'s last hidden states through `dropout` and `linear`, and the
    loss for the config's problem type."""
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    hidden = body(input_ids=input_ids, attention_mask=attention_mask, **inputs).last_hidden_state
    m = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    logits = linear(dropout(pooled))
    loss = None
    if labels is not None:
        if model.config.problem_type == "regression":
            loss = torch.nn.functional.mse_loss(logits.squeeze(-1), labels.float())
        elif model.config.problem_type == "multi_label_classification":
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels.float())
        else:
            loss = torch.nn.functional.cross_entropy(logits, labels)
    return SequenceClassifierOutput(loss=loss, logits=logits)


class _Pooling:
    """Adds `classifier_pooling` to a family's config."""

    def __init__(self, classifier_pooling="mean", **kwargs):
        super().__init__(**kwargs)
        self.classifier_pooling = classifier_pooling


class EdgetuneBertConfig(_Pooling, BertConfig):
    model_type = "bert"


class EdgetuneRobertaConfig(_Pooling, RobertaConfig):
    model_type = "roberta"


class EdgetuneXLMRobertaConfig(_Pooling, XLMRobertaConfig):
    model_type = "xlm-roberta"


class EdgetuneDistilBertConfig(_Pooling, DistilBertConfig):
    model_type = "distilbert"


class EdgetuneBertForSequenceClassification(BertForSequenceClassification):
    config_class = EdgetuneBertConfig

    def __init__(self, config):
        super().__init__(config)
        if _mean(self):
            # Mean pooling needs no pooler; the export has none.
            self.bert = BertModel(config, add_pooling_layer=False)
            self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        if not _mean(self):
            return super().forward(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, labels=labels, **kwargs)
        return _mean_forward(self, self.bert, self.classifier, self.dropout, input_ids, attention_mask, labels, token_type_ids=token_type_ids)


class EdgetuneRobertaForSequenceClassification(RobertaForSequenceClassification):
    config_class = EdgetuneRobertaConfig

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        if not _mean(self):
            return super().forward(input_ids=input_ids, attention_mask=attention_mask, labels=labels, **kwargs)
        return _mean_forward(self, self.roberta, self.classifier.out_proj, self.classifier.dropout, input_ids, attention_mask, labels)


class EdgetuneXLMRobertaForSequenceClassification(XLMRobertaForSequenceClassification):
    config_class = EdgetuneXLMRobertaConfig
    forward = EdgetuneRobertaForSequenceClassification.forward


class EdgetuneMPNetConfig(_Pooling, MPNetConfig):
    model_type = "mpnet"


class EdgetuneMPNetForSequenceClassification(MPNetForSequenceClassification):
    config_class = EdgetuneMPNetConfig

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        if not _mean(self):
            return super().forward(input_ids=input_ids, attention_mask=attention_mask, labels=labels, **kwargs)
        return _mean_forward(self, self.mpnet, self.classifier.out_proj, self.classifier.dropout, input_ids, attention_mask, labels)


class EdgetuneDistilBertForSequenceClassification(DistilBertForSequenceClassification):
    config_class = EdgetuneDistilBertConfig

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        if not _mean(self):
            return super().forward(input_ids=input_ids, attention_mask=attention_mask, labels=labels, **kwargs)
        return _mean_forward(self, self.distilbert, self.classifier, self.dropout, input_ids, attention_mask, labels)

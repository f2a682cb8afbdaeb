"""edgetune's exported DistilBERT text classifier for Hugging Face transformers.

`DistilBertForSequenceClassification` whose pooling is configurable (`classifier_pooling` in
config.json): "mean" averages the last hidden states over real tokens and applies `classifier`
(the export has no `pre_classifier`: mean pooling does not use it), "cls" is the usual head on
the first token. Load with:

    AutoModelForSequenceClassification.from_pretrained(path, trust_remote_code=True)
"""
import torch
from transformers import DistilBertConfig, DistilBertForSequenceClassification
from transformers.modeling_outputs import SequenceClassifierOutput


class EdgetuneDistilBertConfig(DistilBertConfig):
    model_type = "distilbert"

    def __init__(self, classifier_pooling="mean", **kwargs):
        super().__init__(**kwargs)
        self.classifier_pooling = classifier_pooling


class EdgetuneDistilBertForSequenceClassification(DistilBertForSequenceClassification):
    config_class = EdgetuneDistilBertConfig

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        if getattr(self.config, "classifier_pooling", "cls") != "mean":
            return super().forward(input_ids=input_ids, attention_mask=attention_mask, labels=labels, **kwargs)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.distilbert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None:
            if self.config.problem_type == "regression":
                loss = torch.nn.functional.mse_loss(logits.squeeze(-1), labels.float())
            elif self.config.problem_type == "multi_label_classification":
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels.float())
            else:
                loss = torch.nn.functional.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)

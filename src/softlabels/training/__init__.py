"""Stages 2-3: training. The methods and their losses (``methods``), closed-form logit gradients
(``logit_grads``), the batched MLP trainer (``trainer``) and the CNN trainer (``deep``)."""

"""Stage 4: analysis. Bias-variance decompositions (``biasvar``) and the tables as pure functions of
loaded results (``tables``)."""

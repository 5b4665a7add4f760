"""Stage 5: what people read. Which figures a config gets (``figplan``), the figures (``figures``) and
the end-of-run summary (``summary``)."""

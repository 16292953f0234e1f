"""Recording: fMP4 segmenter, segment index, start-up reconcile and retention."""

// Interpretability methods on the Loupe autodiff (being written).

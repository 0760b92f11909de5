"""Developer tools apart from the product: the GUI benchmark and the screenshots."""

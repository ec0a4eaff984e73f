"""kerasserve: serve versioned Keras SavedModels over HTTP with dynamic batching."""

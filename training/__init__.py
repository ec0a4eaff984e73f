"""Build, train, evaluate and export the model zoo as versioned SavedModels."""

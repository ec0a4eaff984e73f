"""gRPC beside REST: KServe V2 (Triton's `inference.GRPCInferenceService`), TF Serving's
`PredictionService` and `ModelService`, health and reflection, served by `grpc.aio` in
the app's own event loop. The servicers only translate messages; the tasks, the
resolver, the batcher and the error table are the ones REST uses."""

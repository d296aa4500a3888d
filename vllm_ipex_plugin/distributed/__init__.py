"""Device communicator for tensor and pipeline parallelism (oneCCL via torch's xccl)."""

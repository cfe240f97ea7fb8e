"""apicall's benchmarks: scripts that print figures as ratios against a baseline in the same run."""

import os

# As in Lambda, Powertools' settings are in the environment before the layer is imported.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "apicall-bench")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "apicall-bench")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

"""apicall's tests."""

import os

# Powertools reads these when apicall.core.observability is first imported, which conftest and the
# test modules do at collection time, before any fixture runs; without a namespace, log_metrics
# raises. The package is imported before any conftest, so this runs first.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "apicall-tests")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "apicall-tests")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

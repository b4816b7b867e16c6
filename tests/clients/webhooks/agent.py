"""The test agent: completes when the first initial event says "succeed",
fails (exit 3) otherwise."""

import json
import sys

context = json.load(sys.stdin)
content = context["initial_events"][0]["content"]
print(f"asked to {content}")
sys.exit(0 if content == "succeed" else 3)

"""Building blocks every runtime shares: labels, the vLLM container, pods, Services, routes,
monitoring, the model cache, the token, disruption budgets and autoscalers."""

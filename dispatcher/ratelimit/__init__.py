"""Shared rate limiting in Redis: per-sender GCRA, per-recipient pair limit, AIMD."""

from dispatcher.ratelimit.limiter import AimdPolicy, Limiter, RateInfo, RateLimiter

__all__ = ["AimdPolicy", "Limiter", "RateInfo", "RateLimiter"]

"""`fastvrrp bench`: takeover, advert jitter, CPU at scale and mass failover, in the netns lab.

Each trial runs in a fresh `fastvrrp.lab.Lab`; daemons alternate trial by trial, so that ratios
stay fair on a noisy machine. See docs/BENCHMARKS.md for the figures and how to reproduce them.
"""

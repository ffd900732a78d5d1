"""One room across several relay processes (spec §24).

A node is the real :class:`relay.router.Router` for its own links plus a
cluster adapter (:mod:`relay.cluster.node`); nodes share rooms through an
engine (:mod:`relay.cluster.engine`: the interface; :mod:`relay.cluster.memory`
in memory, :mod:`relay.cluster.redis_engine` over Redis).
"""

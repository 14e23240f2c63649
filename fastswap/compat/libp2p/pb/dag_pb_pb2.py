"""``PBNode``/``PBLink``: the dag-pb schema (IPLD dag-pb spec), from ``proto/fastswap/dag_pb.proto``."""

from ...._proto.dag_pb_pb2 import PBLink, PBNode

__all__ = ["PBLink", "PBNode"]

"""A Python gRPC client for tuneclip, generated from proto/ at run time: proves the
contract works from another language, and that Python's reflection client (grpcio-
reflection, which speaks reflection v1alpha) lists the services. Prints the answers as
JSON.

usage: python_client.py PROTO_ROOT HOST:PORT
"""
import json
import sys
import tempfile

import grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from grpc_tools import protoc

proto_root, addr = sys.argv[1:3]
out = tempfile.mkdtemp()
rc = protoc.main([
    "protoc", f"-I{proto_root}", f"--python_out={out}", f"--grpc_python_out={out}",
    f"{proto_root}/tuneclip/v1/tuneclip.proto",
])
if rc != 0:
    sys.exit(f"protoc failed with {rc}")
sys.path.insert(0, out)
from tuneclip.v1 import tuneclip_pb2 as pb  # noqa: E402
from tuneclip.v1 import tuneclip_pb2_grpc as rpc  # noqa: E402

channel = grpc.insecure_channel(addr)
songs = rpc.IndexServiceStub(channel).ListSongs(pb.ListSongsRequest(), timeout=30).songs
answer = rpc.MatchServiceStub(channel).BestClips(
    pb.BestClipsRequest(song_id=songs[0].id, k=3, clip_duration_s=2.0, max_per_video=1), timeout=60)
try:
    rpc.MatchServiceStub(channel).BestClips(pb.BestClipsRequest(song_id="nope"), timeout=30)
    unknown = "OK"
except grpc.RpcError as e:
    unknown = e.code().name
try:
    # A streaming call: the status arrives with the first read.
    request = pb.FetchRenderRequest(render_id="never_rendered", file=pb.RENDER_FILE_VIDEO)
    b"".join(c.data for c in rpc.ReframeServiceStub(channel).FetchRender(request, timeout=30))
    missing_render = "OK"
except grpc.RpcError as e:
    missing_render = e.code().name
reflected = sorted(ProtoReflectionDescriptorDatabase(channel).get_services())
print(json.dumps({
    "reflected_services": reflected,
    "song": songs[0].id,
    "clips": [[c.video_id, c.segment_ordinal, c.range.start_s, c.range.end_s] for c in answer.clips],
    "unknown_song": unknown,
    "missing_render": missing_render,
}))

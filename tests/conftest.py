"""Settings every test starts from.

gRPC listens on 8500 by default; a test suite starting many servers in one process
(and several processes side by side) must not all bind it. Tests that serve gRPC pass
`grpc_port` themselves; everything else, including servers started as subprocesses,
inherits "off".
"""

import os

os.environ["KERASSERVE_GRPC_PORT"] = "0"

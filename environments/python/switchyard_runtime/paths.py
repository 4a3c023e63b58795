"""The module search path a Lambda function expects.

AWS's Python runtimes import from the code directory first, then from each
layer's ``python/lib/python3.X/site-packages`` and ``python``, and keep the
runtime's own code (/var/runtime) out of the user's way.
"""

import os
import sys


def parse_layer_args(args):
    """Return the layer directories named by ``--layer DIR`` arguments."""
    layers = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--layer":
            if i + 1 >= len(args):
                raise ValueError("--layer needs a directory")
            layers.append(args[i + 1])
            i += 2
        elif arg.startswith("--layer="):
            layers.append(arg[len("--layer="):])
            i += 1
        else:
            raise ValueError("unknown argument '{}'".format(arg))
    return layers


def layer_dirs(layer, version_info=sys.version_info):
    """The directories one layer contributes, in Lambda's order."""
    site = "python{}.{}".format(version_info[0], version_info[1])
    return [
        os.path.join(layer, "python", "lib", site, "site-packages"),
        os.path.join(layer, "python"),
    ]


def build_sys_path(code_dir, layers, runtime_dir, current):
    """Code dir, then layers, then the interpreter's own path, runtime last.

    ``current`` is the interpreter's path; entries equal to the code, layer or
    runtime directories are dropped from it so each appears once.
    """
    front = [code_dir]
    for layer in layers:
        front.extend(layer_dirs(layer))
    ours = {os.path.abspath(p) for p in front}
    ours.add(os.path.abspath(runtime_dir))
    rest = [p for p in current if p and os.path.abspath(p) not in ours]
    return front + rest + [runtime_dir]

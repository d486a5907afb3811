"""Runs a float32 .tflite file with Arm NN's reference CPU backend (Debian python3-pyarmnn).

Usage: armnn_run.py MODEL.tflite INPUT.f32 OUTPUT.f32
INPUT.f32 holds the first input's float32 values (little-endian, the model's declared shape);
the first output is written the same way. Prints one JSON line with the output name and shape.
Exit code 3 means pyarmnn is not importable (the caller skips); 4 means Arm NN refused the model.
"""
import json
import sys

try:
    import numpy as np
    import pyarmnn as ann
except ImportError as e:  # pragma: no cover - depends on the machine
    print(json.dumps({"error": f"pyarmnn not importable: {e}"}))
    sys.exit(3)


def main(model_path: str, input_path: str, output_path: str) -> None:
    try:
        parser = ann.ITfLiteParser()
        network = parser.CreateNetworkFromBinaryFile(model_path)
        graph_id = 0
        input_names = parser.GetSubgraphInputTensorNames(graph_id)
        output_names = parser.GetSubgraphOutputTensorNames(graph_id)
        input_binding = parser.GetNetworkInputBindingInfo(graph_id, input_names[0])
        output_binding = parser.GetNetworkOutputBindingInfo(graph_id, output_names[0])
        runtime = ann.IRuntime(ann.CreationOptions())
        optimized, messages = ann.Optimize(network, [ann.BackendId("CpuRef")], runtime.GetDeviceSpec(), ann.OptimizerOptions())
        net_id, _ = runtime.LoadNetwork(optimized)
    except Exception as e:  # Arm NN reports unsupported ops and layouts as exceptions
        print(json.dumps({"error": f"Arm NN refused the model: {str(e).splitlines()[0]}"}))
        sys.exit(4)
    data = np.fromfile(input_path, dtype=np.float32)
    shape = tuple(input_binding[1].GetShape())
    input_tensors = ann.make_input_tensors([input_binding], [data.reshape(shape)])
    output_tensors = ann.make_output_tensors([output_binding])
    runtime.EnqueueWorkload(net_id, input_tensors, output_tensors)
    out = ann.workload_tensors_to_ndarray(output_tensors)[0]
    out.astype(np.float32).tofile(output_path)
    print(json.dumps({"name": output_names[0], "shape": list(out.shape)}))


if __name__ == "__main__":
    main(*sys.argv[1:4])

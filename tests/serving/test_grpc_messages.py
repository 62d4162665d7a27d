"""The gRPC messages built in code agree, field for field, with tritonclient's copy of Triton's
proto, which keeps KServe's numbers; and raw tensors round-trip."""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf import descriptor
from tritonclient.grpc import service_pb2
from tritonclient.utils import deserialize_bytes_tensor, serialize_byte_tensor

from modelrollout.serving import grpc_messages, rawdata


def _same(ours: descriptor.Descriptor, theirs: descriptor.Descriptor, path: str) -> int:
    checked = 0
    for field in ours.fields:
        other = theirs.fields_by_name.get(field.name)
        assert other is not None, f"{path}.{field.name} is not in Triton's proto"
        assert (field.number, field.type, field.is_repeated) == (
            other.number, other.type, other.is_repeated,
        ), f"{path}.{field.name}"  # fmt: skip
        if field.message_type is not None:
            assert other.message_type is not None
            checked += _same(field.message_type, other.message_type, f"{path}.{field.name}")
        checked += 1
    return checked


@pytest.mark.parametrize("name", list(grpc_messages.CLASSES))
def test_each_message_matches_tritons_field_for_field(name: str) -> None:
    ours = grpc_messages.POOL.FindMessageTypeByName(f"inference.{name}")
    theirs = service_pb2.DESCRIPTOR.message_types_by_name[name]
    assert _same(ours, theirs, name) >= len(ours.fields)


def test_the_service_and_its_methods_match_tritons() -> None:
    theirs = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    ours = grpc_messages.POOL.FindServiceByName(grpc_messages.SERVICE)
    assert ours.full_name == theirs.full_name == "inference.GRPCInferenceService"
    for method in ours.methods:
        other = theirs.methods_by_name[method.name]
        assert (method.input_type.full_name, method.output_type.full_name) == (
            other.input_type.full_name, other.output_type.full_name,
        )  # fmt: skip


def test_a_request_serialized_by_triton_parses_here() -> None:
    theirs = service_pb2.ModelInferRequest(model_name="iris", id="r1")
    theirs.inputs.add(name="x", datatype="FP64", shape=[1, 4])
    theirs.parameters["binary_data_output"].bool_param = True
    theirs.raw_input_contents.append(b"\0" * 32)
    ours = grpc_messages.ModelInferRequest.FromString(theirs.SerializeToString())
    assert (ours.model_name, ours.id, list(ours.inputs[0].shape)) == ("iris", "r1", [1, 4])
    assert ours.parameters["binary_data_output"].bool_param


def test_bytes_tensors_round_trip_with_tritons_own_codec() -> None:
    values = np.asarray(["setosa", "", "virginica ü"], dtype=object)
    ours = rawdata.from_array(values, datatype="BYTES")
    assert ours == serialize_byte_tensor(values).item()
    assert rawdata.to_strings(ours, count=3).tolist() == values.tolist()
    assert [v.decode() for v in deserialize_bytes_tensor(ours)] == values.tolist()


@pytest.mark.parametrize("datatype", ["FP32", "FP64", "INT32", "INT64"])
def test_numeric_tensors_round_trip(datatype: str) -> None:
    values = np.arange(6).astype(rawdata.DTYPES[datatype])
    again = rawdata.to_array(
        rawdata.from_array(values, datatype=datatype), datatype=datatype, count=6
    )
    assert again.tolist() == values.tolist()
    assert again.flags.writeable


def test_a_buffer_of_the_wrong_length_is_refused_with_both_lengths() -> None:
    with pytest.raises(rawdata.RawDataError, match="holds 7 bytes, but 2 INT32 values take 8"):
        rawdata.to_array(b"\0" * 7, datatype="INT32", count=2)

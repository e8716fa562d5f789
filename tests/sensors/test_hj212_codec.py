"""HJ 212 codec: the standard's own examples (Appendix A, C), packets written here,
field deviations, and a bounded fuzz: every input decoded or refused with a reason."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.hj212.crc import crc16
from sensors.hj212.describe import describe
from sensors.hj212.errors import CrcError, FieldError, FrameError, Hj212Error, LengthError
from sensors.hj212.packet import (
    BEIJING,
    data_reply,
    decode,
    encode,
    execution_reply,
    frame,
    parse_segment,
    request_reply,
)
from sensors.hj212.stream import Framer

# Appendix A's example, whose CRC the text prints as 1C80.
APPENDIX_A = (
    b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;"
    b"MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80\r\n"
)
MN = "010000A8900016F000169DC0"
# Appendix C data segments, as printed (line breaks joined; "…" left out).
C1_REQUEST = (
    f"QN=20160801085857223;ST=32;CN=1000;PW=123456;MN={MN};Flag=5;CP=&&OverTime=5;ReCount=3&&"
)
C1_QNRTN = f"QN=20160801085857223;ST=91;CN=9011;PW=123456;MN={MN};Flag=4;CP=&&QnRtn=1&&"
C1_EXERTN = f"QN=20160801085857223;ST=91;CN=9012;PW=123456;MN={MN};Flag=4;CP=&&ExeRtn=1&&"
C_SET_TIME = (
    f"QN=20160801085857223;ST=32;CN=1012;PW=123456;MN={MN};Flag=5;"
    "CP=&&PolId=w01018;SystemTime=20160801085857&&"
)
C14_RTD = (
    f"QN=20160801085857223;ST=32;CN=2011;PW=123456;MN={MN};Flag=5;CP=&&DataTime=20160801085857;"
    "w01001-Rtd=7.1,w01001-Flag=N;w01018-SampleTime=20160801070000,01018-Rtd=2.2,"
    "w01018-Flag=N,w01018-EFlag=A01&&"
)
C14_REPLY = f"QN=20160801085857223;ST=91;CN=9014;PW=123456;MN={MN};Flag=4;CP=&&&&"
C17_HOUR = (
    f"QN=20160801090000001;ST=32;CN=2061;PW=123456;MN={MN};Flag=5;CP=&&DataTime=20160801080000;"
    "w00000-Cou=63.0,w00000-Min=16.4,w00000-Avg=17.5,w00000-Max=20.1,w00000-Flag=N;"
    "w01001-Min=7.1,w01001-Avg=7.5,w01001-Max=7.8,w01001-Flag=N;w01018-Cou=63.0,"
    "w01018-Min=40.1,w01018-Avg=40.1,w01018-Max=40.1,w01018-Flag=N&&"
)
C50_PART1 = (
    f"QN=20160801085857534;ST=32;CN=2061;PW=123456;MN={MN};Flag=7;PNUM=2;PNO=1;"
    "CP=&&DataTime=20160801080000;w00000-Cou=63.0,w00000-Min=16.4,w00000-Avg=17.5,"
    "w00000-Max=20.1,w00000-Flag=N;w01001-Min=7.1,w01001-Avg=7.5,w01001-Max=7.8,w01001-Flag=N&&"
)


def test_crc_is_appendix_a_not_modbus() -> None:
    assert crc16(b"123456789") == 0x2F80
    assert crc16(APPENDIX_A[6:-6]) == 0x1C80
    assert crc16(b"") == 0xFFFF


def test_appendix_a_example_decodes() -> None:
    packet = decode(APPENDIX_A)
    assert (packet.qn, packet.st, packet.cn, packet.pw, packet.mn) == (
        "20160801085857223", "32", "1062", "100000", MN,
    )  # fmt: skip
    assert packet.flag == 5
    assert packet.version == "2017"
    assert packet.wants_reply
    assert not packet.split
    assert packet.fields == {"RtdInterval": "30"}
    assert packet.deviations == []


def test_encoding_reproduces_appendix_a() -> None:
    segment = APPENDIX_A[6:-6].decode()
    assert frame(segment) == APPENDIX_A
    assert (
        encode(qn="20160801085857223", st="32", cn="1062", pw="100000", mn=MN, flag=5,
               cp="RtdInterval=30")
        == APPENDIX_A
    )  # fmt: skip


def test_appendix_c_requests_and_replies() -> None:
    request = parse_segment(C1_REQUEST)
    assert request.fields == {"OverTime": "5", "ReCount": "3"}
    assert parse_segment(C1_QNRTN).fields == {"QnRtn": "1"}
    assert parse_segment(C1_EXERTN).fields == {"ExeRtn": "1"}
    # The host's replies are byte for byte what the appendix prints.
    assert request_reply(request, 1) == frame(C1_QNRTN)
    assert execution_reply(request, 1) == frame(C1_EXERTN)
    set_time = parse_segment(C_SET_TIME)
    assert set_time.fields == {"PolId": "w01018", "SystemTime": "20160801085857"}


def test_appendix_c_realtime_upload_and_its_reply() -> None:
    packet = decode(frame(C14_RTD))
    assert packet.data_time == datetime(2016, 8, 1, 8, 58, 57, tzinfo=BEIJING)
    assert packet.items["w01001"] == {"Rtd": 7.1, "Flag": "N"}
    assert packet.items["w01018"] == {
        "SampleTime": "2016-08-01T07:00:00+08:00", "Flag": "N", "EFlag": "A01",
    }  # fmt: skip
    # The appendix's own typo "01018-Rtd" is kept as an item of code 01018, not failed on.
    assert packet.items["01018"] == {"Rtd": 2.2}
    assert data_reply(packet) == frame(C14_REPLY)


def test_appendix_c_hour_data_and_split_parts() -> None:
    hour = parse_segment(C17_HOUR)
    assert hour.items["w01001"] == {"Min": 7.1, "Avg": 7.5, "Max": 7.8, "Flag": "N"}
    assert hour.data_time == datetime(2016, 8, 1, 8, tzinfo=BEIJING)
    part = parse_segment(C50_PART1)
    assert (part.split, part.wants_reply, part.pnum, part.pno) == (True, True, 2, 1)


def test_versions_2005_2017_2025() -> None:
    base = "QN=20260101000000000;ST=21;CN=2011;PW=1;MN=M;Flag={};CP=&&&&"
    assert parse_segment(base.format(4)).version == "2017"
    assert parse_segment(base.format(9)).version == "2025"
    assert parse_segment(base.format(9)).wants_reply
    assert parse_segment(base.format(1)).version == "2005"
    no_flag = parse_segment("ST=21;CN=2011;PW=1;MN=M;CP=&&&&")
    assert no_flag.version == "2005"
    assert "no Flag" in no_flag.deviations
    assert "no QN" in no_flag.deviations
    with pytest.raises(FieldError, match="version bits"):
        parse_segment(base.format(0b11111100))


@pytest.mark.parametrize(
    ("raw", "error", "where"),
    [
        (APPENDIX_A[:-6] + b"1C81\r\n", CrcError, "CRC"),
        (b"#0101" + APPENDIX_A[6:], FrameError, "header"),
        (b"##01a1" + APPENDIX_A[6:], LengthError, "length"),
        (frame("QN=20160801085857223;ST=32;CN=1062;PW=1;Flag=5;CP=&&&&"), FieldError, "MN"),
        (frame("QN=2016080108585722;ST=32;CN=1062;PW=1;MN=M;CP=&&&&"), FieldError, "QN"),
        (frame("QN=20161301085857223;ST=32;CN=1062;PW=1;MN=M;CP=&&&&"), FieldError, "QN"),
        (frame("QN=20160801085857223;ST=32;CN=12;PW=1;MN=M;CP=&&&&"), FieldError, "CN"),
        (frame("QN=20160801085857223;ST=32;CN=1062;MN=M;Flag=x;CP=&&&&"), FieldError, "Flag"),
        (frame("QN=20160801085857223;ST=32;CN=2061;MN=M;Flag=7;CP=&&&&"), FieldError, "PNUM"),
        (frame("QN=20160801085857223;ST=32;CN=1062;MN=M;Flag=4;CP=&&x"), FieldError, "CP"),
        (frame("QN=20160801085857223;ST=32;CN=1062;MN=M;Flag=4"), FieldError, "CP"),
        (b"##0004\xff\xfe\xfd\xfc" + b"%04X\r\n" % crc16(b"\xff\xfe\xfd\xfc"), FrameError, ""),
    ],
)
def test_wrong_packets_say_what_and_where(raw: bytes, error: type, where: str) -> None:
    with pytest.raises(error) as caught:
        decode(raw)
    assert isinstance(caught.value, Hj212Error)
    assert caught.value.where.startswith(where)


def test_bad_items_are_recorded_and_the_rest_kept() -> None:
    packet = parse_segment(
        "QN=20260101000000000;ST=21;CN=2011;PW=1;MN=M;Flag=4;CP=&&DataTime=20260101000000;"
        "w21003-Rtd=abc,w21003-Flag=N;w01001-Rtd=7.2;w21011-SampleTime=20261301000000;"
        "w01009-ZsRtd=1.5;w01019-Rtd=1e400x&&"
    )
    assert [e.where for e in packet.item_errors] == [
        "CP.w21003-Rtd", "CP.w21011-SampleTime", "CP.w01019-Rtd",
    ]  # fmt: skip
    assert packet.items["w01001"] == {"Rtd": 7.2}
    assert packet.items["w01009"] == {"ZsRtd": 1.5}  # kept, not failed on


def test_field_deviations_accepted_and_recorded() -> None:
    segment = (
        "QN=20260101000000000;ST=21;CN=2011;PW=1;MN=M;Flag=4;CP=&&DataTime=20260101000000123&&"
    )
    data = segment.encode()
    lower = b"##%04d%s%04x" % (len(data), data, crc16(data))  # lower-case CRC, no CR LF
    packet = decode(lower)
    assert {"no CR LF", "DataTime with milliseconds"} <= set(packet.deviations)
    if any(c.isalpha() for c in f"{crc16(data):04x}"):
        assert "lower-case CRC" in packet.deviations
    wrong_length = b"##0999" + data + b"%04X\r\n" % crc16(data)
    assert any("declared" in d for d in decode(wrong_length).deviations)
    chinese = "QN=20260101000000000;ST=21;CN=2011;PW=1;MN=M;Flag=4;CP=&&Info=水质&&".encode()
    by_chars = b"##%04d%s%04X\r\n" % (len(chinese.decode()), chinese, crc16(chinese))
    assert "length counts characters, not bytes" in decode(by_chars).deviations
    gbk = "QN=20260101000000000;ST=21;CN=2011;PW=1;MN=M;Flag=4;CP=&&Info=水质&&".encode("gbk")
    assert decode(b"##%04d%s%04X\r\n" % (len(gbk), gbk, crc16(gbk))).fields["Info"] == "水质"


def test_describe_prints_the_issue_shape() -> None:
    out = describe(frame(C14_RTD.replace("ST=32", "ST=21")).rstrip(b"\r\n") + b"\n")
    assert out["ok"]
    assert out["error"] is None
    assert out["version"] == "2017"
    assert out["data_time"] == "2016-08-01T08:58:57+08:00"
    assert out["values"]["w01001"] == {"Rtd": 7.1, "Flag": "N"}
    bad = describe(APPENDIX_A[:-6] + b"0000")
    assert bad == {**bad, "ok": False, "error": "CRC: stated 0000, computed 1C80"}


def test_framer_sticky_half_and_garbage() -> None:
    a = frame(C14_RTD)
    b = APPENDIX_A
    framer = Framer()
    out = framer.feed(b"\x00junk" + a + b[:7])
    assert out[1] == a
    assert isinstance(out[0], FrameError)
    assert framer.feed(b[7:40]) == []
    assert framer.feed(b[40:] + a[:-2]) == [b, a[:-2]]  # without CR LF, by its length
    assert framer.feed(b"\r\n") == []
    # A half packet cut by a new one is reported, and the new one still comes through.
    cut = framer.feed(a[:30] + b)
    assert isinstance(cut[0], FrameError)
    assert cut[1] == b
    # Garbage without end is bounded.
    small = Framer(max_frame=64)
    assert isinstance(small.feed(b"##0999" + b"x" * 100)[0], FrameError)
    assert len(small.buf) <= 64


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_decode_never_crashes(raw: bytes) -> None:
    assert _outcome(raw)


def _outcome(raw: bytes) -> str:
    """ "ok", or the refusal's reason and where: never an exception of another kind."""
    try:
        decode(raw)
    except Hj212Error as exc:
        return f"{exc.reason} at {exc.where}: {exc.message}"
    return "ok"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([C14_RTD, C17_HOUR, C1_REQUEST, C50_PART1]), max_size=4),
    st.binary(max_size=40),
    st.integers(min_value=0, max_value=2000),
    st.integers(min_value=1, max_value=64),
)
def test_fuzz_stream_keeps_every_intact_frame(
    segments: list[str], junk: bytes, cut: int, chunk: int
) -> None:
    frames = [frame(s) for s in segments]
    stream = junk + b"".join(frames)
    framer = Framer()
    got: list[bytes | FrameError] = []
    for i in range(0, len(stream), chunk):
        got += framer.feed(stream[i : i + chunk])
    frames_out = [item for item in got if isinstance(item, bytes)]
    assert all(_outcome(item) for item in frames_out)
    if b"#" not in junk:
        assert [decode(f).qn for f in frames_out] == [parse_segment(s).qn for s in segments]
    # One byte changed anywhere: still no crash, only decoded packets or reasons.
    if stream:
        mutated = bytearray(stream)
        mutated[cut % len(stream)] ^= 0x5A
        for item in Framer().feed(bytes(mutated)):
            assert isinstance(item, FrameError) or _outcome(item)


def test_a_mangled_pw_is_not_repeated_in_the_error() -> None:
    with pytest.raises(FieldError) as caught:
        parse_segment("QN=20260101000000000;ST=21;CN=2011;PW654321;MN=M;Flag=4;CP=&&&&")
    assert caught.value.where == "field 4"
    assert "654321" not in str(caught.value)

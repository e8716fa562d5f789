"""Request signing of the two SMS providers, from their documentation.

Aliyun RPC signature (dysmsapi, "HTTP协议及签名" / "签名机制"): sort every parameter
except Signature by name, percent-encode names and values per RFC 3986 (space %20,
"*" %2A, "~" kept), join as name=value with "&", then

    StringToSign = Method + "&" + percentEncode("/") + "&" + percentEncode(query)
    Signature    = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))

Tencent Cloud API 3.0 signature v3 (TC3-HMAC-SHA256, "签名方法 v3"):

    CanonicalRequest = Method \\n "/" \\n query \\n "content-type:…\\nhost:…\\n" \\n
                       "content-type;host" \\n hex(SHA256(payload))
    StringToSign     = "TC3-HMAC-SHA256" \\n timestamp \\n date/service/tc3_request \\n
                       hex(SHA256(CanonicalRequest))
    key              = HMAC(HMAC(HMAC("TC3" + SecretKey, date), service), "tc3_request")
    Authorization    = "TC3-HMAC-SHA256 Credential=SecretId/date/service/tc3_request,
                        SignedHeaders=content-type;host, Signature=" + hex(HMAC(key, StringToSign))

Both are tested against the worked examples of the providers' documentation
(tests/test_sms_signing.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

TC3_ALGORITHM = "TC3-HMAC-SHA256"
TC3_SIGNED_HEADERS = "content-type;host"
TC3_CONTENT_TYPE = "application/json; charset=utf-8"


def percent_encode(value: str) -> str:
    """RFC 3986 unreserved characters kept, everything else %XY of its UTF-8 bytes."""
    return quote(value, safe="-_.~")


def aliyun_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    query = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}"
        for k, v in sorted(params.items())
        if k != "Signature"
    )
    return f"{method}&{percent_encode('/')}&{percent_encode(query)}"


def aliyun_signature(method: str, params: Mapping[str, str], secret: str) -> str:
    digest = hmac.new(
        f"{secret}&".encode(), aliyun_string_to_sign(method, params).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()


def _hmac256(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def tc3_authorization(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    host: str,
    payload: bytes,
    timestamp: int,
    method: str = "POST",
    content_type: str = TC3_CONTENT_TYPE,
) -> str:
    canonical_request = "\n".join(
        (
            method,
            "/",
            "",  # POST: the parameters travel in the body
            f"content-type:{content_type}\nhost:{host}\n",
            TC3_SIGNED_HEADERS,
            hashlib.sha256(payload).hexdigest(),
        )
    )
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        (
            TC3_ALGORITHM,
            str(timestamp),
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        )
    )
    key = _hmac256(_hmac256(_hmac256(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"{TC3_ALGORITHM} Credential={secret_id}/{scope}, "
        f"SignedHeaders={TC3_SIGNED_HEADERS}, Signature={signature}"
    )

"""RFC 6238 codes (SHA-1, 6 digits, 30 s), written out so the suite needs no extra package."""
import base64, hashlib, hmac, struct, sys, time


def code(secret_b32: str, at: float) -> str:
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    msg = struct.pack(">Q", int(at) // 30)
    digest = hmac.new(key, msg, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


if __name__ == "__main__":
    # totp.py SECRET [STEPS_AHEAD]
    ahead = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    print(code(sys.argv[1], time.time() + 30 * ahead))

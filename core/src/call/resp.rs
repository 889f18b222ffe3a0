//! RESP2, the Redis protocol, through the `redis-protocol` crate: commands
//! as arrays of bulk strings, and where a run of reply values ends.

use bytes::Bytes;
pub use redis_protocol::resp2::types::OwnedFrame as Value;
use redis_protocol::resp2::types::Resp2Frame;

/// One command (`["EVAL", script, "1", key, ...]`) as RESP bytes.
pub fn command(args: &[&[u8]]) -> Bytes {
    let frame = Value::Array(args.iter().map(|a| Value::BulkString(a.to_vec())).collect());
    let mut buf = vec![0; frame.encode_len(false)];
    match redis_protocol::resp2::encode::encode(&mut buf, &frame, false) {
        Ok(n) => buf.truncate(n),
        // The buffer is exactly the frame's length: it cannot be short.
        Err(_) => buf.clear(),
    }
    Bytes::from(buf)
}

/// Where `count` values at the start of `buf` end (`None`: more needed).
pub fn values_end(buf: &[u8], count: u8) -> Result<Option<usize>, &'static str> {
    let mut at = 0;
    for _ in 0..count {
        match redis_protocol::resp2::decode::decode_range(&buf[at..]) {
            Ok(Some((_, n))) => at += n,
            Ok(None) => return Ok(None),
            Err(_) => return Err("malformed RESP reply"),
        }
    }
    Ok(Some(at))
}

/// The values of a complete reply, in order.
pub fn values(buf: &[u8]) -> Result<Vec<Value>, &'static str> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        match redis_protocol::resp2::decode::decode(&buf[at..]) {
            Ok(Some((v, n))) => {
                out.push(v);
                at += n;
            }
            _ => return Err("malformed RESP reply"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_encode_and_replies_end_where_their_values_do() {
        assert_eq!(
            &command(&[b"GET", b"k"])[..],
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        );
        let two = b"+OK\r\n*2\r\n:1\r\n$2\r\nhi\r\n";
        assert_eq!(values_end(two, 2), Ok(Some(two.len())));
        assert_eq!(values_end(&two[..two.len() - 1], 2), Ok(None));
        assert_eq!(values_end(two, 1), Ok(Some(5)));
        assert!(values_end(b"?what\r\n", 1).is_err());
        assert_eq!(
            values(two).unwrap(),
            [
                Value::SimpleString(b"OK".to_vec()),
                Value::Array(vec![Value::Integer(1), Value::BulkString(b"hi".to_vec())])
            ]
        );
    }
}

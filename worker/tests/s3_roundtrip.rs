//! The local S3-compatible server with aws-sdk-s3 as configured by default (SigV4, the SDK's
//! default CRC checksums), plus path-style addressing: put, list, get, a 20 MiB multipart
//! upload, and conditional writes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

async fn client() -> Client {
    let endpoint = support::s3_endpoint();
    let (access, secret) = support::s3_credentials();
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            access,
            secret,
            None,
            None,
            "stockfeed-test",
        ))
        .load()
        .await;
    let config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(true)
        .build();
    let client = Client::from_conf(config);
    if let Err(e) = client.list_buckets().send().await {
        panic!(
            "the S3 server is not reachable at {endpoint} ({}). Start it with `make services-up` \
             (or `hack/s3.sh start`), or point STOCKFEED_TEST_S3 at a running server.",
            aws_sdk_s3::error::DisplayErrorContext(e)
        );
    }
    client
}

async fn new_bucket(client: &Client) -> String {
    let bucket = support::unique_name("sf-s3test");
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    bucket
}

/// Deterministic, incompressible-looking bytes (xorshift), so a corrupted part would show.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test]
async fn put_list_get() {
    let client = client().await;
    let bucket = new_bucket(&client).await;
    let body = bytes(300_000, 7);
    for key in [
        "raw/trade/dt=2026-11-26/hour=14/a.parquet",
        "raw/trade/dt=2026-11-26/hour=15/b.parquet",
    ] {
        client
            .put_object()
            .bucket(&bucket)
            .key(key)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .expect("put");
    }
    let listed = client
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("raw/trade/dt=2026-11-26/")
        .send()
        .await
        .unwrap();
    let mut keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "raw/trade/dt=2026-11-26/hour=14/a.parquet",
            "raw/trade/dt=2026-11-26/hour=15/b.parquet"
        ]
    );
    let got = client
        .get_object()
        .bucket(&bucket)
        .key(&keys[0])
        .send()
        .await
        .unwrap();
    let data = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(data.as_ref(), body.as_slice());
}

#[tokio::test]
async fn multipart_upload_of_20_mib() {
    let client = client().await;
    let bucket = new_bucket(&client).await;
    let key = "raw/big.bin";
    let body = bytes(20 * 1024 * 1024, 42);
    let upload = client
        .create_multipart_upload()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .expect("create upload");
    let upload_id = upload.upload_id().expect("upload id").to_owned();
    let mut parts = Vec::new();
    // 8 + 8 + 4 MiB: every part but the last is at least S3's 5 MiB minimum.
    for (i, chunk) in body.chunks(8 * 1024 * 1024).enumerate() {
        let number = i as i32 + 1;
        let part = client
            .upload_part()
            .bucket(&bucket)
            .key(key)
            .upload_id(&upload_id)
            .part_number(number)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await
            .expect("upload part");
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag().map(str::to_owned))
                .build(),
        );
    }
    assert_eq!(parts.len(), 3);
    client
        .complete_multipart_upload()
        .bucket(&bucket)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .expect("complete upload");
    let head = client
        .head_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(body.len() as i64));
    let got = client
        .get_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let data = got.body.collect().await.unwrap().into_bytes();
    assert!(
        data.as_ref() == body.as_slice(),
        "20 MiB object reads back byte for byte"
    );
}

/// Conditional create (`If-None-Match: *`): what the sink's exactly-once naming relies on where
/// the store supports it. The first write must succeed and the second must be refused with 412
/// Precondition Failed, leaving the first object intact.
#[tokio::test]
async fn conditional_create_refuses_to_overwrite() {
    let client = client().await;
    let bucket = new_bucket(&client).await;
    let key = "raw/trade/dt=2026-11-26/hour=14/t+0+0.parquet";
    client
        .put_object()
        .bucket(&bucket)
        .key(key)
        .if_none_match("*")
        .body(ByteStream::from_static(b"first"))
        .send()
        .await
        .expect("first conditional create");
    let second = client
        .put_object()
        .bucket(&bucket)
        .key(key)
        .if_none_match("*")
        .body(ByteStream::from_static(b"second"))
        .send()
        .await;
    let err = second.expect_err("second conditional create must be refused");
    let status = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(
        status,
        Some(412),
        "{}",
        aws_sdk_s3::error::DisplayErrorContext(&err)
    );
    let got = client
        .get_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"first"
    );
}

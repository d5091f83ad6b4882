"""The node suite's AWS client (tests/e2e/run.sh): creates a bucket and lists keys on the
harness's S3 server, and lists Glue tables on moto, with boto3 from the moto venv
(hack/lib.sh python_venv).

    s3.py create-bucket BUCKET
    s3.py list BUCKET PREFIX      one key per line
    s3.py glue-tables DATABASE    one table name per line; nothing when the database is gone

Endpoints and keys: STOCKFEED_TEST_S3, STOCKFEED_S3_ACCESS_KEY, STOCKFEED_S3_SECRET_KEY,
STOCKFEED_TEST_MOTO (any keys).
"""

import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.handlers import set_list_objects_encoding_type_url


def client():
    c = boto3.client(
        "s3",
        endpoint_url=os.environ["STOCKFEED_TEST_S3"],
        aws_access_key_id=os.environ["STOCKFEED_S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["STOCKFEED_S3_SECRET_KEY"],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )
    # botocore asks for URL-encoded keys and decodes them as form data ('+' becomes a space);
    # s3s-fs does not encode '+', so the sink's `topic+partition+offset` names came back with
    # spaces. Ask for the keys as they are.
    c.meta.events.unregister(
        "before-parameter-build.s3.ListObjectsV2", set_list_objects_encoding_type_url
    )
    return c


def main(argv):
    if len(argv) == 2 and argv[0] == "create-bucket":
        try:
            client().create_bucket(Bucket=argv[1])
        except ClientError as e:
            if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        return 0
    if len(argv) == 3 and argv[0] == "list":
        pages = client().get_paginator("list_objects_v2").paginate(Bucket=argv[1], Prefix=argv[2])
        for page in pages:
            for obj in page.get("Contents", []):
                print(obj["Key"])
        return 0
    if len(argv) == 2 and argv[0] == "glue-tables":
        glue = boto3.client(
            "glue",
            endpoint_url=os.environ["STOCKFEED_TEST_MOTO"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        try:
            for page in glue.get_paginator("get_tables").paginate(DatabaseName=argv[1]):
                for table in page["TableList"]:
                    print(table["Name"])
        except glue.exceptions.EntityNotFoundException:
            pass
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

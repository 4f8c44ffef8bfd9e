"""Pokes the S3-compatible server of the object-store tests with boto3 (a
client pondsql does not share code with): make buckets, list and count
objects, damage one.

usage: s3_tool.py ENDPOINT mkbucket BUCKET
       s3_tool.py ENDPOINT list BUCKET PREFIX        -> "key size" per line
       s3_tool.py ENDPOINT flip BUCKET KEY OFFSET    -> flips the bits of one byte
       s3_tool.py ENDPOINT put BUCKET KEY TEXT
"""
import sys

import boto3


def main():
    endpoint, command, bucket, *rest = sys.argv[1:]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    if command == "mkbucket":
        s3.create_bucket(Bucket=bucket)
    elif command == "list":
        (prefix,) = rest
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                print(obj["Key"], obj["Size"])
    elif command == "flip":
        key, offset = rest
        body = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        body[int(offset)] ^= 0xFF
        s3.put_object(Bucket=bucket, Key=key, Body=bytes(body))
    elif command == "put":
        key, text = rest
        s3.put_object(Bucket=bucket, Key=key, Body=text.encode())
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()

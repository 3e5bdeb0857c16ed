"""Stack locks on AWS: a DynamoDB conditional put (default) or an S3 conditional write."""

from __future__ import annotations

from iacorch.errors import ProviderError
from iacorch.lock import LockRecord
from providers.aws.session import AwsSession, error_code, translate

DEFAULT_TABLE = "iacorch-locks"


class DynamoLock:
    """One item per stack in a table keyed by ``stack``; created on first use."""

    def __init__(self, session: AwsSession, table: str, stack: str) -> None:
        self.db = session.client("dynamodb")
        self.table, self.stack = table, stack
        self.where = f"dynamodb table {table}, key {stack}"
        self._ensured = False

    def _ensure_table(self) -> None:
        if self._ensured:
            return
        with translate(self.where):
            try:
                self.db.describe_table(TableName=self.table)
            except Exception as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
                try:
                    self.db.create_table(TableName=self.table, BillingMode="PAY_PER_REQUEST",
                                         AttributeDefinitions=[{"AttributeName": "stack", "AttributeType": "S"}],
                                         KeySchema=[{"AttributeName": "stack", "KeyType": "HASH"}])
                except Exception as exc2:
                    if error_code(exc2) != "ResourceInUseException":
                        raise
                self.db.get_waiter("table_exists").wait(TableName=self.table)
        self._ensured = True

    def _item(self, r: LockRecord) -> dict:
        return {"stack": {"S": r.stack}, "record": {"S": r.to_json()}, "token": {"S": r.token},
                "expires_at": {"N": f"{r.expires_at:.3f}"}}

    def read(self) -> LockRecord | None:
        self._ensure_table()
        with translate(self.where):
            item = self.db.get_item(TableName=self.table, Key={"stack": {"S": self.stack}},
                                    ConsistentRead=True).get("Item")
        return LockRecord.from_json(item["record"]["S"]) if item else None

    def put_if_free(self, record: LockRecord, now: float) -> LockRecord | None:
        self._ensure_table()
        try:
            with translate(self.where):
                self.db.put_item(TableName=self.table, Item=self._item(record),
                                 ConditionExpression="attribute_not_exists(#s) OR expires_at < :now",
                                 ExpressionAttributeNames={"#s": "stack"},
                                 ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}})
            return None
        except ProviderError as exc:
            if "ConditionalCheckFailed" not in str(exc):
                raise
        holder = self.read()
        return holder or self.put_if_free(record, now)

    def renew(self, record: LockRecord) -> bool:
        try:
            with translate(self.where):
                self.db.put_item(TableName=self.table, Item=self._item(record),
                                 ConditionExpression="#t = :t", ExpressionAttributeNames={"#t": "token"},
                                 ExpressionAttributeValues={":t": {"S": record.token}})
            return True
        except ProviderError as exc:
            if "ConditionalCheckFailed" in str(exc):
                return False
            raise

    def delete(self, token: str | None) -> LockRecord | None:
        current = self.read()
        if current is None:
            return None
        args: dict = {"TableName": self.table, "Key": {"stack": {"S": self.stack}}}
        if token is not None:
            args.update(ConditionExpression="#t = :t", ExpressionAttributeNames={"#t": "token"},
                        ExpressionAttributeValues={":t": {"S": token}})
        try:
            with translate(self.where):
                self.db.delete_item(**args)
        except ProviderError as exc:
            if "ConditionalCheckFailed" in str(exc):
                return None
            raise
        return current


class S3Lock:
    """An object per stack, written with If-None-Match (take) and If-Match (renew, steal expired)."""

    def __init__(self, session: AwsSession, bucket: str, stack: str) -> None:
        self.s3 = session.client("s3")
        self.bucket, self.key = bucket, f"iacorch/locks/{stack}.json"
        self.where = f"s3://{bucket}/{self.key}"

    def _get(self) -> tuple[LockRecord, str] | None:
        try:
            with translate(self.where):
                obj = self.s3.get_object(Bucket=self.bucket, Key=self.key)
        except ProviderError as exc:
            if "NoSuchKey" in str(exc) or "404" in str(exc):
                return None
            raise
        return LockRecord.from_json(obj["Body"].read().decode()), obj["ETag"]

    def read(self) -> LockRecord | None:
        got = self._get()
        return got[0] if got else None

    def _put(self, record: LockRecord, **condition: str) -> bool:
        try:
            with translate(self.where):
                self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=record.to_json().encode(),
                                   ContentType="application/json", **condition)
            return True
        except ProviderError as exc:
            if "PreconditionFailed" in str(exc) or "ConditionalRequestConflict" in str(exc):
                return False
            raise

    def put_if_free(self, record: LockRecord, now: float) -> LockRecord | None:
        if self._put(record, IfNoneMatch="*"):
            return None
        got = self._get()
        if got is None:
            return self.put_if_free(record, now)
        holder, etag = got
        if holder.expires_at < now and self._put(record, IfMatch=etag):
            return None
        return holder if holder.expires_at >= now else (self.read() or holder)

    def renew(self, record: LockRecord) -> bool:
        got = self._get()
        if got is None or got[0].token != record.token:
            return False
        return self._put(record, IfMatch=got[1])

    def delete(self, token: str | None) -> LockRecord | None:
        got = self._get()
        if got is None or (token is not None and got[0].token != token):
            return None
        with translate(self.where):
            self.s3.delete_object(Bucket=self.bucket, Key=self.key)
        return got[0]

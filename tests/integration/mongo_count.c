/*
 * mongo-count URI DB COLL — prints the number of documents in DB.COLL (a test helper:
 * the MongoDB sink's integration tests count what reached the server, through the
 * server, without a mongo shell). Exit 1 with the error when the server cannot answer.
 */
#include <mongoc/mongoc.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: mongo-count URI DB COLL\n");
        return 2;
    }
    mongoc_init();
    mongoc_log_set_handler(NULL, NULL); /* FerretDB's "no endSessions" warning is noise here */
    bson_error_t err;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(argv[1], &err);
    int rc = 1;
    if (!uri) {
        fprintf(stderr, "mongo-count: %s\n", err.message);
        return 2;
    }
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
    mongoc_client_t *client = mongoc_client_new_from_uri(uri);
    mongoc_collection_t *coll = mongoc_client_get_collection(client, argv[2], argv[3]);
    bson_t filter = BSON_INITIALIZER;
    int64_t n = mongoc_collection_count_documents(coll, &filter, NULL, NULL, NULL, &err);
    if (n < 0) {
        fprintf(stderr, "mongo-count: %s\n", err.message);
    } else {
        printf("%lld\n", (long long)n);
        rc = 0;
    }
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(client);
    mongoc_uri_destroy(uri);
    mongoc_cleanup();
    return rc;
}

# Every dependency comes from Debian's packages, found through pkg-config.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
pkg_check_modules(PQ REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(JSONC REQUIRED IMPORTED_TARGET json-c)
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
pkg_check_modules(LWS REQUIRED IMPORTED_TARGET libwebsockets)
# libuv: the gateway and the loadgen run lws on it (epoll) instead of poll(2) over every socket.
pkg_check_modules(UV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(JWT REQUIRED IMPORTED_TARGET libjwt)
pkg_check_modules(OPENSSL REQUIRED IMPORTED_TARGET openssl)
# Optional: the MongoDB sink of chatstream-persist (Debian: libmongoc-dev).
pkg_check_modules(MONGOC QUIET IMPORTED_TARGET libmongoc-1.0)
if(NOT MONGOC_FOUND)
  message(STATUS "libmongoc-1.0 not found: chatstream-persist is built without the mongodb sink")
endif()

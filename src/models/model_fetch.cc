#include "models/model_fetch.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common/error_mapping.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "net/destination_policy.h"
#include "net/http_get.h"

namespace berth::models {

// ---- Sha256Stream ---------------------------------------------------------------------------

struct Sha256Stream::Context {
  struct Free {
    void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> digest{EVP_MD_CTX_new()};
};

Sha256Stream::Sha256Stream() : context_(std::make_unique<Context>()) {
  // Only allocation can fail here; treat it like operator new failing.
  if (!context_->digest || EVP_DigestInit_ex(context_->digest.get(), EVP_sha256(), nullptr) != 1) {
    std::abort();
  }
}

Sha256Stream::~Sha256Stream() = default;
Sha256Stream::Sha256Stream(Sha256Stream&&) noexcept = default;
Sha256Stream& Sha256Stream::operator=(Sha256Stream&&) noexcept = default;

void Sha256Stream::Update(std::span<const uint8_t> bytes) {
  EVP_DigestUpdate(context_->digest.get(), bytes.data(), bytes.size());
}

void Sha256Stream::Update(std::string_view bytes) {
  EVP_DigestUpdate(context_->digest.get(), bytes.data(), bytes.size());
}

std::string Sha256Stream::FinishHex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(context_->digest.get(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xF]);
  }
  return hex;
}

namespace {

namespace fs = std::filesystem;
using net::RedactUrl;

constexpr size_t kCopyChunkBytes = 1u << 20;
constexpr size_t kMaxErrorBodyBytes = 4096;
constexpr long kMaxRedirects = 5;
constexpr char kEmptyBodySha256[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string ErrnoText(int error) { return std::strerror(error); }

// The destination while it is written: size limit, digest, and removal unless committed.
// Not thread-safe.
class DownloadSink {
 public:
  DownloadSink(fs::path dest, uint64_t max_bytes, std::string_view source)
      : dest_(std::move(dest)), max_bytes_(max_bytes), source_(source) {}
  DownloadSink(const DownloadSink&) = delete;
  DownloadSink& operator=(const DownloadSink&) = delete;
  ~DownloadSink() {
    if (fd_ >= 0) close(fd_);
    if (created_ && !committed_) unlink(dest_.c_str());
  }

  absl::Status Open() {
    fd_ = open(dest_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      return absl::InternalError(StrCat("cannot create ", dest_.string(), ": ", ErrnoText(errno)));
    }
    created_ = true;
    return absl::OkStatus();
  }

  absl::Status TooLarge() const {
    return common::PayloadTooLargeError(StrCat(source_, ": the model is larger than the limit of ",
                                               max_bytes_, " bytes (--max-model-bytes)"));
  }

  absl::Status Append(std::string_view bytes) {
    if (bytes.size() > max_bytes_ - written_) return TooLarge();
    for (std::string_view rest = bytes; !rest.empty();) {
      const ssize_t n = write(fd_, rest.data(), rest.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return absl::InternalError(StrCat("cannot write ", dest_.string(), ": ", ErrnoText(errno)));
      }
      rest.remove_prefix(static_cast<size_t>(n));
    }
    sha256_.Update(bytes);
    written_ += bytes.size();
    return absl::OkStatus();
  }

  absl::StatusOr<FetchResult> Commit() {
    const int fd = fd_;
    fd_ = -1;
    if (fsync(fd) != 0 || close(fd) != 0) {
      return absl::InternalError(StrCat("cannot write ", dest_.string(), ": ", ErrnoText(errno)));
    }
    committed_ = true;
    return FetchResult{.size_bytes = written_, .sha256_hex = sha256_.FinishHex()};
  }

 private:
  fs::path dest_;
  uint64_t max_bytes_;
  std::string source_;
  int fd_ = -1;
  bool created_ = false;
  bool committed_ = false;
  uint64_t written_ = 0;
  Sha256Stream sha256_;
};

// ---- URIs ----------------------------------------------------------------------------------

absl::StatusOr<std::string> PercentDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    int value = 0;
    for (size_t j = i + 1; j <= i + 2; ++j) {
      const char c = j < text.size() ? text[j] : '\0';
      const int digit = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
      if (digit < 0) return absl::InvalidArgumentError("a '%' not followed by two hex digits");
      value = value * 16 + digit;
    }
    if (value == 0) return absl::InvalidArgumentError("%00 in a path");
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

// Percent-encodes an S3 key for the request path: everything but unreserved bytes and '/'.
std::string EncodeS3Key(std::string_view key) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : key) {
    const auto byte = static_cast<uint8_t>(c);
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
    if (keep) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xF]);
    }
  }
  return out;
}

// scheme://host[:port] of a URL, for messages.
std::string Origin(std::string_view url) {
  const std::string redacted = RedactUrl(url);
  const size_t scheme_end = redacted.find("://");
  if (scheme_end == std::string::npos) return redacted;
  return redacted.substr(0,
                         std::min(redacted.find_first_of("/?#", scheme_end + 3), redacted.size()));
}

bool HasControlCharacters(std::string_view text, bool or_space) {
  for (char c : text) {
    if (static_cast<uint8_t>(c) < 0x20 || c == 0x7F || (or_space && c == ' ')) return true;
  }
  return false;
}

// ---- file:// -------------------------------------------------------------------------------

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Refuses a path that is not inside one of `roots` once symbolic links and '..' are resolved.
absl::Status CheckFileRoots(std::string_view uri, const std::string& path,
                            const std::vector<fs::path>& roots) {
  if (roots.empty()) {
    return absl::PermissionDeniedError(StrCat(
        uri, ": this server does not read models from its own file system; upload the file "
             "(berth deploy ./model.onnx) or start the server with --allow-file-uris DIR"));
  }
  // Lexically first, so that a path outside says nothing about whether it exists; then with
  // links resolved, so that a link inside cannot point out.
  std::error_code ec;
  auto inside = [&](const fs::path& candidate) {
    for (const fs::path& root : roots) {
      const fs::path base = fs::weakly_canonical(root, ec);
      if (ec) continue;
      const fs::path relative = candidate.lexically_relative(base);
      if (!relative.empty() && *relative.begin() != "..") return true;
    }
    return false;
  };
  bool ok = inside(fs::path(path).lexically_normal());
  if (ok) {
    const fs::path real = fs::canonical(path, ec);
    if (ec) return absl::InvalidArgumentError(StrCat(uri, ": cannot open: ", ec.message()));
    ok = inside(real);
  }
  if (ok) return absl::OkStatus();
  std::string allowed;
  for (const fs::path& root : roots) StrAppend(&allowed, allowed.empty() ? "" : ", ", root.string());
  return absl::PermissionDeniedError(
      StrCat(uri, ": outside the directories this server reads models from (", allowed, ")"));
}

absl::StatusOr<FetchResult> FetchFile(std::string_view uri, const fs::path& dest,
                                      const FetchOptions& options) {
  std::string_view rest = uri.substr(std::string_view("file://").size());
  if (rest.starts_with("localhost/")) rest.remove_prefix(std::string_view("localhost").size());
  if (!rest.starts_with('/')) {
    return absl::InvalidArgumentError(
        StrCat(uri, ": a file URI names an absolute path on the server: file:///path/to/model"));
  }
  auto path = PercentDecode(rest);
  if (!path.ok()) return absl::InvalidArgumentError(StrCat(uri, ": ", Msg(path.status())));
  if (options.file_roots.has_value()) RETURN_IF_ERROR(CheckFileRoots(uri, *path, *options.file_roots));
  // O_NONBLOCK: opening a FIFO must not hang; it is refused below as not a regular file.
  FileDescriptor fd(open(path->c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    return absl::InvalidArgumentError(StrCat(uri, ": cannot open: ", ErrnoText(errno)));
  }
  struct stat info {};
  if (fstat(fd.get(), &info) != 0) {
    return absl::InvalidArgumentError(StrCat(uri, ": cannot stat: ", ErrnoText(errno)));
  }
  if (S_ISDIR(info.st_mode)) {
    return absl::InvalidArgumentError(
        StrCat(uri,
               ": directories are not supported for upload; name the model file itself (a .onnx "
               "file, a TorchScript .pt file, or the ONNX file inside an MLflow model)"));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(StrCat(uri, ": not a regular file"));
  }
  DownloadSink sink(dest, options.max_bytes, uri);
  if (static_cast<uint64_t>(info.st_size) > options.max_bytes) return sink.TooLarge();
  RETURN_IF_ERROR(sink.Open());
  std::vector<char> buffer(kCopyChunkBytes);
  while (true) {
    const ssize_t n = read(fd.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(StrCat(uri, ": read failed: ", ErrnoText(errno)));
    if (n == 0) break;
    RETURN_IF_ERROR(sink.Append(std::string_view(buffer.data(), static_cast<size_t>(n))));
  }
  return sink.Commit();
}

// ---- http(s):// and s3:// through libcurl --------------------------------------------------

struct HttpRequest {
  std::string url;      // what libcurl fetches
  std::string display;  // the URI as messages show it
  std::string server;   // scheme://host:port, for messages
  bool s3 = false;
  std::string aws_sigv4;  // "aws:amz:REGION:s3" when signing
  std::string access_key, secret_key;
  std::vector<std::string> headers;
};

struct Transfer {
  CURL* curl = nullptr;
  DownloadSink* sink = nullptr;
  long status = 0;
  std::string error_body;  // the start of a non-2xx answer, for the message
  absl::Status write_error;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  if (transfer->status == 0)
    curl_easy_getinfo(transfer->curl, CURLINFO_RESPONSE_CODE, &transfer->status);
  if (transfer->status < 200 || transfer->status >= 300) {
    const size_t keep = std::min(bytes, kMaxErrorBodyBytes - transfer->error_body.size());
    transfer->error_body.append(data, keep);
    return bytes;
  }
  transfer->write_error = transfer->sink->Append(std::string_view(data, bytes));
  return transfer->write_error.ok() ? bytes : 0;  // a short count makes libcurl stop
}


// The text between <tag> and </tag> in an S3 XML error, printable ASCII only.
std::string XmlElement(std::string_view xml, std::string_view tag) {
  const std::string open = StrCat("<", tag, ">");
  const size_t start = xml.find(open);
  if (start == std::string_view::npos) return "";
  const size_t begin = start + open.size();
  const size_t end = xml.find(StrCat("</", tag, ">"), begin);
  if (end == std::string_view::npos) return "";
  std::string text;
  for (char c : xml.substr(begin, std::min<size_t>(end - begin, 300))) {
    if (c >= 0x20 && c < 0x7F) text.push_back(c);
  }
  return text;
}

absl::Status HttpError(const HttpRequest& request, long status, std::string_view body) {
  std::string message = StrCat(request.display, ": HTTP ", status, " from ", request.server);
  if (request.s3) {
    const std::string code = XmlElement(body, "Code");
    const std::string text = XmlElement(body, "Message");
    if (!code.empty()) StrAppend(&message, ": ", code, text.empty() ? "" : ": ", text);
    if (status == 401 || status == 403) {
      StrAppend(&message, " (check the S3 credentials: BERTH_S3_ACCESS_KEY / BERTH_S3_SECRET_KEY)");
    } else if (status == 404) {
      StrAppend(&message, " (check the bucket and key)");
    } else if (status == 301 || status == 307 || code == "AuthorizationHeaderMalformed") {
      StrAppend(&message, " (check --s3-region / --s3-endpoint)");
    }
  } else if (status == 401 || status == 403) {
    StrAppend(&message,
              " (the server refused access; use a URL that needs no login, e.g. a "
              "presigned URL)");
  } else if (status == 404) {
    StrAppend(&message, " (nothing at that URL)");
  }
  if (status >= 500) return absl::UnavailableError(message);
  return absl::InvalidArgumentError(message);
}

absl::StatusOr<FetchResult> FetchHttp(const HttpRequest& request, const fs::path& dest,
                                      const FetchOptions& options) {
  net::InitCurlOnce();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return absl::InternalError("cannot initialise libcurl");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(nullptr, curl_slist_free_all);
  for (const std::string& header : request.headers) {
    curl_slist* list = curl_slist_append(headers.get(), header.c_str());
    if (!list) return absl::InternalError("out of memory building request headers");
    (void)headers.release();
    headers.reset(list);
  }
  DownloadSink sink(dest, options.max_bytes, request.display);
  RETURN_IF_ERROR(sink.Open());
  Transfer transfer{.curl = curl.get(), .sink = &sink};
  char error_text[CURL_ERROR_SIZE] = "";
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  // S3 answers its redirects (wrong region) with an error body worth showing instead.
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, request.s3 ? 0L : 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, kMaxRedirects);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options.connect_timeout.count() * 1000));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.total_timeout.count() * 1000));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
                   static_cast<curl_off_t>(std::min<uint64_t>(options.max_bytes, INT64_MAX)));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_text);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "berth-model-fetch");
  if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  net::CurlGuard guard{.policy = request.s3 ? nullptr : options.policy};
  if (guard.policy != nullptr) net::GuardCurl(c, &guard);
  if (!request.aws_sigv4.empty()) {
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, request.aws_sigv4.c_str());
    curl_easy_setopt(c, CURLOPT_USERNAME, request.access_key.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, request.secret_key.c_str());
  }
  const CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (!transfer.write_error.ok()) return transfer.write_error;
  if (!guard.refused.empty()) {
    return absl::InvalidArgumentError(
        StrCat(request.display, ": refused to connect: ", guard.refused,
               " (the server fetches from internal addresses only when started with "
               "--fetch-allow)"));
  }
  const std::string reason = error_text[0] ? error_text : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_OK:
      break;
    case CURLE_FILESIZE_EXCEEDED:
      return sink.TooLarge();
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(StrCat(request.display, ": ", reason, " (limits: connect ",
                                                options.connect_timeout.count(), " s, total ",
                                                options.total_timeout.count(), " s)"));
    case CURLE_TOO_MANY_REDIRECTS:
      return absl::InvalidArgumentError(
          StrCat(request.display, ": more than ", kMaxRedirects, " redirects"));
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return absl::InvalidArgumentError(StrCat(request.display, ": ", reason));
    default:
      return absl::UnavailableError(
          StrCat(request.display, ": cannot fetch from ", request.server, ": ", reason));
  }
  if (status < 200 || status >= 300) return HttpError(request, status, transfer.error_body);
  return sink.Commit();
}

bool IsS3Name(std::string_view name, bool allow_dot) {
  if (name.empty() || name.size() > 255) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || (allow_dot && c == '.');
    if (!ok) return false;
  }
  return true;
}

absl::StatusOr<HttpRequest> S3Request(std::string_view uri, const S3Options& s3) {
  const std::string_view rest = uri.substr(std::string_view("s3://").size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 == rest.size()) {
    return absl::InvalidArgumentError(StrCat(uri, ": expected s3://BUCKET/KEY"));
  }
  const std::string_view bucket = rest.substr(0, slash);
  const std::string_view key = rest.substr(slash + 1);
  if (!IsS3Name(bucket, true)) {
    return absl::InvalidArgumentError(StrCat(uri, ": '", bucket, "' is not a bucket name"));
  }
  if (!IsS3Name(s3.region, false)) {
    return absl::InvalidArgumentError(
        StrCat("'", s3.region, "' is not an S3 region (--s3-region)"));
  }
  std::string endpoint =
      s3.endpoint.empty() ? StrCat("https://s3.", s3.region, ".amazonaws.com") : s3.endpoint;
  while (endpoint.ends_with('/')) endpoint.pop_back();
  const size_t scheme_end = endpoint.find("://");
  const std::string_view scheme = std::string_view(endpoint).substr(0, scheme_end);
  if (scheme_end == std::string::npos || (scheme != "http" && scheme != "https") ||
      HasControlCharacters(endpoint, true)) {
    return absl::InvalidArgumentError(
        StrCat("the S3 endpoint '", RedactUrl(endpoint),
               "' must be an http:// or https:// URL (--s3-endpoint)"));
  }
  HttpRequest request;
  request.s3 = true;
  request.display = std::string(uri);
  request.server = Origin(endpoint);
  if (s3.path_style) {
    request.url = StrCat(endpoint, "/", bucket, "/", EncodeS3Key(key));
  } else {
    request.url = StrCat(endpoint.substr(0, scheme_end + 3), bucket, ".",
                         endpoint.substr(scheme_end + 3), "/", EncodeS3Key(key));
  }
  if (!s3.access_key.empty()) {
    request.aws_sigv4 = StrCat("aws:amz:", s3.region, ":s3");
    request.access_key = s3.access_key;
    request.secret_key = s3.secret_key;
    // libcurl signs the payload hash but does not send it; S3 requires the header.
    request.headers.push_back(StrCat("x-amz-content-sha256: ", kEmptyBodySha256));
  }
  return request;
}

std::string LowerScheme(std::string_view uri) {
  const size_t end = uri.find("://");
  std::string scheme(uri.substr(0, end == std::string_view::npos ? 0 : end));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return scheme;
}

}  // namespace

absl::StatusOr<FetchResult> FetchModel(std::string_view uri, const std::filesystem::path& dest,
                                       const FetchOptions& options) {
  if (HasControlCharacters(uri, false)) {
    return absl::InvalidArgumentError("the URI contains control characters; percent-encode them");
  }
  const std::string scheme = LowerScheme(uri);
  if (scheme == "file") return FetchFile(uri, dest, options);
  if (scheme == "http" || scheme == "https") {
    HttpRequest request{.url = std::string(uri), .display = RedactUrl(uri), .server = Origin(uri)};
    return FetchHttp(request, dest, options);
  }
  if (scheme == "s3") {
    ASSIGN_OR_RETURN(HttpRequest request, S3Request(uri, options.s3));
    return FetchHttp(request, dest, options);
  }
  return absl::InvalidArgumentError(
      StrCat(RedactUrl(uri),
             ": unsupported URI; use file:///path/to/model, http://..., "
             "https://... or s3://bucket/key"));
}

}  // namespace berth::models

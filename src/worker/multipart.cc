#include "worker/multipart.h"

#include <cctype>

#include "common/strings.h"

namespace berth::worker {
namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The value of parameter `key` in a header value like `form-data; name="a"; filename="b"`.
std::string Parameter(std::string_view header, std::string_view key) {
  size_t i = header.find(';');
  while (i != std::string_view::npos && i < header.size()) {
    ++i;  // past ';'
    const size_t eq = header.find('=', i);
    if (eq == std::string_view::npos) return "";
    const std::string name = Lower(Trim(header.substr(i, eq - i)));
    i = eq + 1;
    while (i < header.size() && header[i] == ' ') ++i;
    std::string value;
    if (i < header.size() && header[i] == '"') {
      for (++i; i < header.size() && header[i] != '"'; ++i) {
        if (header[i] == '\\' && i + 1 < header.size()) ++i;
        value.push_back(header[i]);
      }
      i = header.find(';', i);
    } else {
      const size_t end = header.find(';', i);
      value = std::string(Trim(header.substr(i, end == std::string_view::npos ? end : end - i)));
      i = end;
    }
    if (name == key) return value;
  }
  return "";
}

}  // namespace

absl::StatusOr<std::vector<FormPart>> ParseFormData(std::string_view content_type,
                                                    std::string_view body, size_t max_parts) {
  const std::string boundary = Parameter(content_type, "boundary");
  if (boundary.empty() || boundary.size() > 70) {
    return absl::InvalidArgumentError(
        "multipart/form-data needs a boundary parameter of 1 to 70 characters in Content-Type");
  }
  const std::string delimiter = StrCat("--", boundary);
  size_t pos = body.find(delimiter);
  if (pos == std::string_view::npos) {
    return absl::InvalidArgumentError("the multipart body does not contain its boundary");
  }
  std::vector<FormPart> parts;
  while (true) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--") return parts;  // closing delimiter
    if (body.substr(pos, 2) != "\r\n") {
      return absl::InvalidArgumentError("malformed multipart body: a boundary line without CRLF");
    }
    pos += 2;
    const size_t headers_end = body.find("\r\n\r\n", pos);
    const size_t next = body.find(StrCat("\r\n", delimiter), pos);
    if (next == std::string_view::npos) {
      return absl::InvalidArgumentError("malformed multipart body: it ends inside a part");
    }
    if (parts.size() == max_parts) {
      return absl::InvalidArgumentError(
          StrCat("the multipart body has more than ", max_parts, " parts"));
    }
    FormPart part;
    std::string_view headers;
    if (body.substr(pos, 2) == "\r\n") {  // no headers
      part.body = body.substr(pos + 2, next - pos - 2);
    } else {
      if (headers_end == std::string_view::npos || headers_end > next) {
        return absl::InvalidArgumentError("malformed multipart body: a part without a blank "
                                          "line after its headers");
      }
      headers = body.substr(pos, headers_end - pos);
      part.body = body.substr(headers_end + 4, next - headers_end - 4);
    }
    while (!headers.empty()) {
      const size_t eol = headers.find("\r\n");
      const std::string_view line = headers.substr(0, eol);
      headers = eol == std::string_view::npos ? "" : headers.substr(eol + 2);
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      const std::string field = Lower(Trim(line.substr(0, colon)));
      const std::string_view value = Trim(line.substr(colon + 1));
      if (field == "content-disposition") {
        part.name = Parameter(value, "name");
        part.filename = Parameter(value, "filename");
      } else if (field == "content-type") {
        part.content_type = Lower(Trim(value.substr(0, value.find(';'))));
      }
    }
    parts.push_back(std::move(part));
    pos = next + 2;
  }
}

}  // namespace berth::worker

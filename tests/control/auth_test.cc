// The Authenticator against a real SQLite store (wrapped to count and fail calls) and a fake
// clock: requests are answered from the snapshot alone, changes take effect at once, and the
// background bookkeeping (last use, expired sessions) survives store failures.
#include "control/auth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "common/strings.h"
#include "control/api_key.h"
#include "tests/control/failing_store.h"
#include "tests/control/test_env.h"
#include "control/sqlite_store.h"

namespace berth::control {
namespace {

namespace fs = std::filesystem;

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sqlite = SqliteStore::Open(dir_ / "berth.db");
    ASSERT_TRUE(sqlite.ok()) << sqlite.status();
    sqlite_ = *std::move(sqlite);
    store_ = std::make_unique<FailingStore>(sqlite_.get());
    Restart();
  }
  void TearDown() override {
    auth_.reset();
  }

  // A new Authenticator on the same store, as after a server restart.
  void Restart() {
    auth_.reset();
    auto auth = Authenticator::Create({.store = store_.get(), .clock = &clock_, .flush_period_ms = 0});
    ASSERT_TRUE(auth.ok()) << auth.status();
    auth_ = *std::move(auth);
  }

  // Adds a key with `scopes`; returns the key itself.
  std::string AddKey(const std::string& id, std::vector<std::string> scopes,
                     TimeMs expires_at = 0) {
    return AddTestKey(*auth_, clock_, id, std::move(scopes), expires_at);
  }

  std::string Cookie(const std::string& value) {
    return StrCat("theme=dark; ", Authenticator::kSessionCookie, "=", value);
  }

  TimeMs LastUsed(const std::string& id) {
    auto key = sqlite_->FindKeyById(id);
    EXPECT_TRUE(key.ok() && key->has_value());
    return key.ok() && key->has_value() ? (*key)->last_used_at : -1;
  }

  ScratchDir dir_{"auth"};
  FakeClock clock_;
  std::unique_ptr<Store> sqlite_;
  std::unique_ptr<FailingStore> store_;
  std::unique_ptr<Authenticator> auth_;
};

TEST_F(AuthTest, RequestsAreAnsweredWithoutAStoreCall) {
  const std::string key = AddKey("key-a", {"deploy"});
  auto cookie = auth_->CreateSession(key);
  ASSERT_TRUE(cookie.ok()) << cookie.status();
  const int before = store_->calls();
  for (int i = 0; i < 10'000; ++i) {
    auto principal = auth_->FromAuthorization("Bearer " + key);
    ASSERT_TRUE(principal.ok()) << principal.status();
    ASSERT_EQ(principal->key_id, "key-a");
    ASSERT_TRUE(auth_->FromSessionCookie(Cookie(*cookie)).ok());
  }
  EXPECT_FALSE(auth_->FromAuthorization("Bearer brth_nonsense").ok());
  EXPECT_EQ(store_->calls(), before);
}

TEST_F(AuthTest, AnEmptyBearerTokenSaysTheVariableIsProbablyUnset) {
  for (std::string_view header : {"Bearer", "Bearer ", "Bearer   "}) {
    auto principal = auth_->FromAuthorization(header);
    EXPECT_TRUE(absl::IsUnauthenticated(principal.status())) << header;
    EXPECT_NE(principal.status().message().find("empty Bearer token: is $BERTH_API_KEY set?"),
              std::string_view::npos)
        << principal.status();
  }
  EXPECT_NE(auth_->FromAuthorization("Basic abc").status().message().find("'Bearer KEY'"),
            std::string_view::npos);
  // Spaces around the key are not part of it.
  const std::string key = AddKey("k", {"read"});
  EXPECT_TRUE(auth_->FromAuthorization("Bearer  " + key + " ").ok());
}

TEST_F(AuthTest, ManyThreadsAuthenticateWhileKeysChange) {
  const std::string key = AddKey("key-a", {"read"});
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 2'000; ++i) {
        if (!auth_->FromKey(key).ok()) ++failures;
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    AddKey(StrCat("key-", i), {"read"});
    ASSERT_TRUE(auth_->RevokeKey(StrCat("key-", i)).ok());
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(AuthTest, ANewKeyWorksAtOnceAndAfterARestart) {
  const std::string key = AddKey("key-a", {"read"});
  auto principal = auth_->FromKey(key);
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ(principal->key_name, "key-a-name");
  EXPECT_EQ(principal->scopes, std::vector<std::string>{"read"});
  EXPECT_FALSE(principal->via_session);
  Restart();
  EXPECT_TRUE(auth_->FromKey(key).ok());
}

TEST_F(AuthTest, AKeyTheStoreRefusedDoesNotAuthenticate) {
  store_->Fail("InsertKey");
  auto generated = GenerateApiKey();
  ASSERT_TRUE(generated.ok());
  ApiKeyRecord record;
  record.id = "key-a";
  record.hash = generated->hash;
  record.scopes = {"admin"};
  EXPECT_FALSE(auth_->AddKey(record).ok());
  EXPECT_FALSE(auth_->FromKey(generated->key).ok());
}

TEST_F(AuthTest, RevokingIsImmediateAndEndsTheKeysSessions) {
  const std::string key = AddKey("key-a", {"deploy"});
  const std::string other = AddKey("key-b", {"read"});
  auto session = auth_->CreateSession(key);
  auto other_session = auth_->CreateSession(other);
  ASSERT_TRUE(session.ok() && other_session.ok());
  ASSERT_TRUE(auth_->RevokeKey("key-a").ok());
  auto refused = auth_->FromKey(key);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE(auth_->FromSessionCookie(Cookie(*session)).ok());
  EXPECT_TRUE(auth_->FromSessionCookie(Cookie(*other_session)).ok());
  EXPECT_FALSE(auth_->CreateSession(key).ok());
  // Revoked in the store too: a restart does not bring it back.
  Restart();
  EXPECT_FALSE(auth_->FromKey(key).ok());
  EXPECT_FALSE(auth_->FromSessionCookie(Cookie(*session)).ok());
  EXPECT_TRUE(auth_->FromSessionCookie(Cookie(*other_session)).ok());
}

TEST_F(AuthTest, ARevokeTheStoreRefusedLeavesTheKeyValid) {
  const std::string key = AddKey("key-a", {"deploy"});
  store_->Fail("RevokeKey");
  EXPECT_FALSE(auth_->RevokeKey("key-a").ok());
  EXPECT_TRUE(auth_->FromKey(key).ok());
  store_->Heal();
  EXPECT_EQ(auth_->RevokeKey("key-unknown").code(), absl::StatusCode::kNotFound);
}

TEST_F(AuthTest, KeysAndSessionsExpire) {
  const std::string key = AddKey("key-a", {"read"}, clock_.WallMs() + 60'000);
  const std::string lasting = AddKey("key-b", {"read"});
  auto session = auth_->CreateSession(lasting);
  ASSERT_TRUE(session.ok());
  EXPECT_TRUE(auth_->FromKey(key).ok());
  clock_.Advance(60'000);
  auto expired = auth_->FromKey(key);
  ASSERT_FALSE(expired.ok());
  EXPECT_NE(Msg(expired.status()).find("expired"), std::string::npos) << expired.status();
  EXPECT_TRUE(auth_->FromSessionCookie(Cookie(*session)).ok());
  clock_.Advance(Authenticator::kSessionLifetimeMs);
  EXPECT_FALSE(auth_->FromSessionCookie(Cookie(*session)).ok());
  EXPECT_TRUE(auth_->FromKey(lasting).ok());
  // Expired sessions are not read back after a restart either.
  auth_->Flush();
  Restart();
  EXPECT_FALSE(auth_->FromSessionCookie(Cookie(*session)).ok());
}

TEST_F(AuthTest, SigningOutEndsTheSession) {
  const std::string key = AddKey("key-a", {"read"});
  auto session = auth_->CreateSession(key);
  ASSERT_TRUE(session.ok());
  store_->Fail("DeleteSession");
  EXPECT_FALSE(auth_->DeleteSession(Cookie(*session)).ok());
  EXPECT_TRUE(auth_->FromSessionCookie(Cookie(*session)).ok());
  store_->Heal();
  EXPECT_TRUE(auth_->DeleteSession(Cookie(*session)).ok());
  EXPECT_FALSE(auth_->FromSessionCookie(Cookie(*session)).ok());
  EXPECT_TRUE(auth_->DeleteSession("no=cookie").ok());
}

TEST_F(AuthTest, FlushWritesLastUseOnceAndRetriesAFailedWrite) {
  const std::string key = AddKey("key-a", {"read"});
  EXPECT_EQ(LastUsed("key-a"), 0);
  ASSERT_TRUE(auth_->FromKey(key).ok());
  const TimeMs used = clock_.WallMs();
  clock_.Advance(5'000);

  store_->Fail("TouchKey");
  auth_->Flush();
  EXPECT_EQ(LastUsed("key-a"), 0);
  const int failed = store_->failures();
  EXPECT_GT(failed, 0);

  store_->Heal();
  auth_->Flush();
  EXPECT_EQ(LastUsed("key-a"), used);
  const int calls = store_->calls();
  auth_->Flush();  // nothing new: no write
  EXPECT_EQ(store_->calls(), calls);

  ASSERT_TRUE(auth_->FromKey(key).ok());
  auth_->Flush();
  EXPECT_EQ(LastUsed("key-a"), clock_.WallMs());
}

TEST_F(AuthTest, AStoreThatCannotBeReadRefusesToStart) {
  store_->Fail("ListKeys");
  auto auth = Authenticator::Create({.store = store_.get(), .clock = &clock_, .flush_period_ms = 0});
  EXPECT_FALSE(auth.ok());
}

TEST_F(AuthTest, MalformedCredentialsAreRefusedWithAReason) {
  auto missing = auth_->FromAuthorization("");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnauthenticated);
  auto basic = auth_->FromAuthorization("Basic dXNlcjpwYXNz");
  EXPECT_NE(Msg(basic.status()).find("Bearer"), std::string::npos);
  auto garbled = auth_->FromAuthorization("Bearer brth_0000");
  EXPECT_EQ(garbled.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Msg(garbled.status()).find("brth_0000"), std::string::npos) << "repeats the key";
  EXPECT_FALSE(auth_->FromSessionCookie("").ok());
  EXPECT_FALSE(auth_->FromSessionCookie(Cookie("0123")).ok());
}

TEST_F(AuthTest, TheBackgroundFlushStopsWithTheAuthenticator) {
  auth_.reset();
  auto auth = Authenticator::Create({.store = store_.get(), .clock = &clock_, .flush_period_ms = 5});
  ASSERT_TRUE(auth.ok());
  auth_ = *std::move(auth);
  const std::string key = AddKey("key-a", {"read"});
  ASSERT_TRUE(auth_->FromKey(key).ok());
  auth_.reset();  // joins the thread and flushes a last time
  EXPECT_EQ(LastUsed("key-a"), clock_.WallMs());
}

}  // namespace
}  // namespace berth::control

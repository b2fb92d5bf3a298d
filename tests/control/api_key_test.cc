#include "control/api_key.h"

#include <gtest/gtest.h>

#include <set>

namespace berth::control {
namespace {

TEST(ApiKeyTest, GeneratedKeysHaveTheDocumentedShapeAndPassTheirOwnCheck) {
  auto key = GenerateApiKey();
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->key.size(), kApiKeyLength);
  EXPECT_GE(key->key.size(), 32u);
  EXPECT_EQ(key->key.substr(0, 5), "brth_");
  EXPECT_EQ(key->display, key->key.substr(0, kApiKeyDisplayChars));
  EXPECT_EQ(key->hash, Sha256Hex(key->key));
  EXPECT_EQ(key->hash.size(), 64u);
  EXPECT_TRUE(CheckApiKeyFormat(key->key).ok());
}

TEST(ApiKeyTest, KeysDoNotRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(GenerateApiKey()->key);
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(ApiKeyTest, EveryBase62CharacterAppears) {
  std::set<char> seen;
  for (int i = 0; i < 200; ++i) {
    const std::string key = GenerateApiKey()->key;
    for (size_t j = kApiKeyPrefix.size(); j < kApiKeyPrefix.size() + kApiKeyRandomChars; ++j) {
      seen.insert(key[j]);
    }
  }
  EXPECT_EQ(seen.size(), 62u);
}

TEST(ApiKeyTest, TyposAreCaughtByTheChecksum) {
  const std::string key = GenerateApiKey()->key;
  int caught = 0;
  for (size_t i = kApiKeyPrefix.size(); i < key.size(); ++i) {
    std::string typo = key;
    typo[i] = typo[i] == 'a' ? 'b' : 'a';
    if (!CheckApiKeyFormat(typo).ok()) ++caught;
  }
  EXPECT_EQ(caught, static_cast<int>(key.size() - kApiKeyPrefix.size()));
  std::string swapped = key;
  std::swap(swapped[6], swapped[7]);
  if (swapped != key) {
    EXPECT_FALSE(CheckApiKeyFormat(swapped).ok());
  }
}

TEST(ApiKeyTest, RejectsWrongShapesWithoutEchoingTheKey) {
  for (std::string bad : {std::string(""), std::string("brth_short"),
                          std::string("xxxx_") + std::string(28, 'a'),
                          std::string("brth_") + std::string(27, 'a') + "!"}) {
    absl::Status status = CheckApiKeyFormat(bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    if (!bad.empty()) {
      EXPECT_EQ(std::string(status.message()).find(bad), std::string::npos);
    }
  }
}

TEST(ApiKeyTest, Sha256MatchesAKnownVector) {
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ApiKeyTest, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

}  // namespace
}  // namespace berth::control

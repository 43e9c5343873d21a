/* SPDX-License-Identifier: MIT */
/*
 * The SKF interface of GM/T 0016-2012 (智能密码钥匙密码应用接口规范): the
 * types, structures, error codes and function types libzrca uses, written
 * for libzrca after the standard's header as open projects publish it
 * (GmSSL, guanzhi/GmSSL, skf/skf.h, "from the official specification with
 * minor modification"; section numbers below are the standard's). Only
 * what the backend and the test module call is declared; the values are
 * the standard's.
 *
 * Calling convention: vendors' Windows DLLs export these functions
 * __stdcall (the standard's DEVAPI); on Linux and other Unix systems the
 * convention is the platform's default one, which is what these pointer
 * types use. Structures are byte-packed (#pragma pack(1)) as in the
 * standard. ULONG is 32 bits on every platform, as the standard defines it
 * (not the C `unsigned long`).
 */
#ifndef ZRI_SKF_API_H
#define ZRI_SKF_API_H

#include <stdint.h>

/* 6.2 basic types */
typedef int8_t SKF_INT8;
typedef uint8_t BYTE;
typedef char CHAR;
typedef int32_t LONG;
typedef uint32_t ULONG;
typedef uint32_t DWORD;
typedef int32_t BOOL;
typedef char *LPSTR;
typedef void *HANDLE;
typedef HANDLE DEVHANDLE;
typedef HANDLE HAPPLICATION;
typedef HANDLE HCONTAINER;

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

/* 6.3 constants */
#define MAX_RSA_MODULUS_LEN          256
#define MAX_RSA_EXPONENT_LEN         4
#define ECC_MAX_XCOORDINATE_BITS_LEN 512
#define ECC_MAX_YCOORDINATE_BITS_LEN 512
#define ECC_MAX_MODULUS_BITS_LEN     512
#define MAX_IV_LEN                   32
#define MAX_FILE_NAME_SIZE           32

/* PIN types (6.4.x) */
#define ADMIN_TYPE 0
#define USER_TYPE  1

/* File access rights */
#define SECURE_NEVER_ACCOUNT  0x00000000
#define SECURE_ADM_ACCOUNT    0x00000001
#define SECURE_USER_ACCOUNT   0x00000010
#define SECURE_ANYONE_ACCOUNT 0x000000FF

/* Device states (SKF_GetDevState) */
#define DEV_ABSENT_STATE  0x00000000
#define DEV_PRESENT_STATE 0x00000001
#define DEV_UNKNOW_STATE  0x00000002

/* Container types (SKF_GetContainerType) */
#define SKF_CONTAINER_EMPTY 0
#define SKF_CONTAINER_RSA   1
#define SKF_CONTAINER_ECC   2

/* Algorithm identifiers of GM/T 0006 used here */
#define SGD_SM3     0x00000001
#define SGD_SHA1    0x00000002
#define SGD_SHA256  0x00000004
#define SGD_RSA     0x00010000
#define SGD_SM2_1   0x00020100 /* SM2 signature */
#define SGD_SM2_3   0x00020400 /* SM2 encryption */
#define SGD_SM4_ECB 0x00000401

#pragma pack(1)
typedef struct Struct_Version {
    BYTE major;
    BYTE minor;
} VERSION;

typedef struct Struct_DEVINFO {
    VERSION Version;
    CHAR Manufacturer[64];
    CHAR Issuer[64];
    CHAR Label[32];
    CHAR SerialNumber[32];
    VERSION HWVersion;
    VERSION FirmwareVersion;
    ULONG AlgSymCap;
    ULONG AlgAsymCap;
    ULONG AlgHashCap;
    ULONG DevAuthAlgId;
    ULONG TotalSpace;
    ULONG FreeSpace;
    ULONG MaxECCBufferSize;
    ULONG MaxBufferSize;
    BYTE Reserved[64];
} DEVINFO;

/* Big-endian integers, right-aligned in their fields. */
typedef struct Struct_RSAPUBLICKEYBLOB {
    ULONG AlgID;
    ULONG BitLen;
    BYTE Modulus[MAX_RSA_MODULUS_LEN];
    BYTE PublicExponent[MAX_RSA_EXPONENT_LEN];
} RSAPUBLICKEYBLOB;

typedef struct Struct_ECCPUBLICKEYBLOB {
    ULONG BitLen;
    BYTE XCoordinate[ECC_MAX_XCOORDINATE_BITS_LEN / 8];
    BYTE YCoordinate[ECC_MAX_YCOORDINATE_BITS_LEN / 8];
} ECCPUBLICKEYBLOB;

typedef struct Struct_ECCCIPHERBLOB {
    BYTE XCoordinate[ECC_MAX_XCOORDINATE_BITS_LEN / 8];
    BYTE YCoordinate[ECC_MAX_XCOORDINATE_BITS_LEN / 8];
    BYTE HASH[32];
    ULONG CipherLen;
    BYTE Cipher[1];
} ECCCIPHERBLOB;

typedef struct Struct_ECCSIGNATUREBLOB {
    BYTE r[ECC_MAX_XCOORDINATE_BITS_LEN / 8];
    BYTE s[ECC_MAX_XCOORDINATE_BITS_LEN / 8];
} ECCSIGNATUREBLOB;

typedef struct SKF_ENVELOPEDKEYBLOB {
    ULONG Version;
    ULONG ulSymmAlgID;
    ULONG ulBits;
    BYTE cbEncryptedPriKey[64];
    ECCPUBLICKEYBLOB PubKey;
    ECCCIPHERBLOB ECCCipherBlob;
} ENVELOPEDKEYBLOB;

typedef struct Struct_FILEATTRIBUTE {
    CHAR FileName[MAX_FILE_NAME_SIZE];
    ULONG FileSize;
    ULONG ReadRights;
    ULONG WriteRights;
} FILEATTRIBUTE;
#pragma pack()

/* Error codes (GM/T 0016-2012 appendix A) */
#define SAR_OK                        0x00000000
#define SAR_FAIL                      0x0A000001
#define SAR_UNKNOWNERR                0x0A000002
#define SAR_NOTSUPPORTYETERR          0x0A000003
#define SAR_FILEERR                   0x0A000004
#define SAR_INVALIDHANDLEERR          0x0A000005
#define SAR_INVALIDPARAMERR           0x0A000006
#define SAR_READFILEERR               0x0A000007
#define SAR_WRITEFILEERR              0x0A000008
#define SAR_NAMELENERR                0x0A000009
#define SAR_KEYUSAGEERR               0x0A00000A
#define SAR_MODULUSLENERR             0x0A00000B
#define SAR_NOTINITIALIZEERR          0x0A00000C
#define SAR_OBJERR                    0x0A00000D
#define SAR_MEMORYERR                 0x0A00000E
#define SAR_TIMEOUTERR                0x0A00000F
#define SAR_INDATALENERR              0x0A000010
#define SAR_INDATAERR                 0x0A000011
#define SAR_GENRANDERR                0x0A000012
#define SAR_HASHOBJERR                0x0A000013
#define SAR_HASHERR                   0x0A000014
#define SAR_GENRSAKEYERR              0x0A000015
#define SAR_RSAMODULUSLENERR          0x0A000016
#define SAR_CSPIMPRTPUBKEYERR         0x0A000017
#define SAR_RSAENCERR                 0x0A000018
#define SAR_RSADECERR                 0x0A000019
#define SAR_HASHNOTEQUALERR           0x0A00001A
#define SAR_KEYNOTFOUNTERR            0x0A00001B
#define SAR_CERTNOTFOUNTERR           0x0A00001C
#define SAR_NOTEXPORTERR              0x0A00001D
#define SAR_DECRYPTPADERR             0x0A00001E
#define SAR_MACLENERR                 0x0A00001F
#define SAR_BUFFER_TOO_SMALL          0x0A000020
#define SAR_KEYINFOTYPEERR            0x0A000021
#define SAR_NOT_EVENTERR              0x0A000022
#define SAR_DEVICE_REMOVED            0x0A000023
#define SAR_PIN_INCORRECT             0x0A000024
#define SAR_PIN_LOCKED                0x0A000025
#define SAR_PIN_INVALID               0x0A000026
#define SAR_PIN_LEN_RANGE             0x0A000027
#define SAR_USER_ALREADY_LOGGED_IN    0x0A000028
#define SAR_USER_PIN_NOT_INITIALIZED  0x0A000029
#define SAR_USER_TYPE_INVALID         0x0A00002A
#define SAR_APPLICATION_NAME_INVALID  0x0A00002B
#define SAR_APPLICATION_EXISTS        0x0A00002C
#define SAR_USER_NOT_LOGGED_IN        0x0A00002D
#define SAR_APPLICATION_NOT_EXISTS    0x0A00002E
#define SAR_FILE_ALREADY_EXIST        0x0A00002F
#define SAR_NO_ROOM                   0x0A000030
#define SAR_FILE_NOT_EXIST            0x0A000031
#define SAR_REACH_MAX_CONTAINER_COUNT 0x0A000032

/* Function types (section 7), as resolved with dlsym. */
typedef ULONG (*SKF_EnumDev_fn)(BOOL bPresent, LPSTR szNameList, ULONG *pulSize);
typedef ULONG (*SKF_ConnectDev_fn)(LPSTR szName, DEVHANDLE *phDev);
typedef ULONG (*SKF_DisConnectDev_fn)(DEVHANDLE hDev);
typedef ULONG (*SKF_GetDevInfo_fn)(DEVHANDLE hDev, DEVINFO *pDevInfo);
typedef ULONG (*SKF_ChangePIN_fn)(HAPPLICATION hApplication, ULONG ulPINType, LPSTR szOldPin,
                                  LPSTR szNewPin, ULONG *pulRetryCount);
typedef ULONG (*SKF_GetPINInfo_fn)(HAPPLICATION hApplication, ULONG ulPINType,
                                   ULONG *pulMaxRetryCount, ULONG *pulRemainRetryCount,
                                   BOOL *pbDefaultPin);
typedef ULONG (*SKF_VerifyPIN_fn)(HAPPLICATION hApplication, ULONG ulPINType, LPSTR szPIN,
                                  ULONG *pulRetryCount);
typedef ULONG (*SKF_UnblockPIN_fn)(HAPPLICATION hApplication, LPSTR szAdminPIN, LPSTR szNewUserPIN,
                                   ULONG *pulRetryCount);
typedef ULONG (*SKF_ClearSecureState_fn)(HAPPLICATION hApplication);
typedef ULONG (*SKF_CreateApplication_fn)(DEVHANDLE hDev, LPSTR szAppName, LPSTR szAdminPin,
                                          DWORD dwAdminPinRetryCount, LPSTR szUserPin,
                                          DWORD dwUserPinRetryCount, DWORD dwCreateFileRights,
                                          HAPPLICATION *phApplication);
typedef ULONG (*SKF_EnumApplication_fn)(DEVHANDLE hDev, LPSTR szAppName, ULONG *pulSize);
typedef ULONG (*SKF_OpenApplication_fn)(DEVHANDLE hDev, LPSTR szAppName,
                                        HAPPLICATION *phApplication);
typedef ULONG (*SKF_CloseApplication_fn)(HAPPLICATION hApplication);
typedef ULONG (*SKF_CreateFile_fn)(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulFileSize,
                                   ULONG ulReadRights, ULONG ulWriteRights);
typedef ULONG (*SKF_DeleteFile_fn)(HAPPLICATION hApplication, LPSTR szFileName);
typedef ULONG (*SKF_EnumFiles_fn)(HAPPLICATION hApplication, LPSTR szFileList, ULONG *pulSize);
typedef ULONG (*SKF_GetFileInfo_fn)(HAPPLICATION hApplication, LPSTR szFileName,
                                    FILEATTRIBUTE *pFileInfo);
typedef ULONG (*SKF_ReadFile_fn)(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulOffset,
                                 ULONG ulSize, BYTE *pbOutData, ULONG *pulOutLen);
typedef ULONG (*SKF_WriteFile_fn)(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulOffset,
                                  BYTE *pbData, ULONG ulSize);
typedef ULONG (*SKF_CreateContainer_fn)(HAPPLICATION hApplication, LPSTR szContainerName,
                                        HCONTAINER *phContainer);
typedef ULONG (*SKF_DeleteContainer_fn)(HAPPLICATION hApplication, LPSTR szContainerName);
typedef ULONG (*SKF_OpenContainer_fn)(HAPPLICATION hApplication, LPSTR szContainerName,
                                      HCONTAINER *phContainer);
typedef ULONG (*SKF_CloseContainer_fn)(HCONTAINER hContainer);
typedef ULONG (*SKF_EnumContainer_fn)(HAPPLICATION hApplication, LPSTR szContainerName,
                                      ULONG *pulSize);
typedef ULONG (*SKF_GetContainerType_fn)(HCONTAINER hContainer, ULONG *pulContainerType);
typedef ULONG (*SKF_ImportCertificate_fn)(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbCert,
                                          ULONG ulCertLen);
typedef ULONG (*SKF_ExportCertificate_fn)(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbCert,
                                          ULONG *pulCertLen);
typedef ULONG (*SKF_GenRSAKeyPair_fn)(HCONTAINER hContainer, ULONG ulBitsLen,
                                      RSAPUBLICKEYBLOB *pBlob);
typedef ULONG (*SKF_RSASignData_fn)(HCONTAINER hContainer, BYTE *pbData, ULONG ulDataLen,
                                    BYTE *pbSignature, ULONG *pulSignLen);
typedef ULONG (*SKF_GenECCKeyPair_fn)(HCONTAINER hContainer, ULONG ulAlgId,
                                      ECCPUBLICKEYBLOB *pBlob);
typedef ULONG (*SKF_ImportECCKeyPair_fn)(HCONTAINER hContainer,
                                         ENVELOPEDKEYBLOB *pEnvelopedKeyBlob);
typedef ULONG (*SKF_ECCSignData_fn)(HCONTAINER hContainer, BYTE *pbDigest, ULONG ulDigestLen,
                                    ECCSIGNATUREBLOB *pSignature);
typedef ULONG (*SKF_ExportPublicKey_fn)(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbBlob,
                                        ULONG *pulBlobLen);

#endif /* ZRI_SKF_API_H */

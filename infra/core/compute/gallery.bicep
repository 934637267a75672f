// The Azure Compute Gallery the pipeline publishes image versions to. Image definitions and versions are created by
// the pipeline at run time, not here. Sharing follows the Compute Gallery docs: RBAC (Reader on the gallery, granted
// in app/rbac.bicep) and, off by default, community publishing.

param name string
param location string = resourceGroup().location
param tags object = {}
@description('Description of the gallery.')
param galleryDescription string = 'Golden VM images kept fresh by image-pipeline.'

@description('Set sharingProfile.permissions to Community. Every Azure subscription can then see the images once sharing is enabled with az sig share enable-community.')
param communityGalleryEnabled bool = false

@description('Community gallery: the publisher\'s website.')
param communityGalleryPublisherUri string = ''

@description('Community gallery: the publisher\'s contact e-mail address.')
param communityGalleryPublisherContact string = ''

@description('Community gallery: the end-user license agreement (text or link).')
param communityGalleryEula string = ''

@description('Community gallery: prefix of the public gallery name.')
param communityGalleryPublicNamePrefix string = ''

var communitySharing = communityGalleryEnabled ? {
  sharingProfile: {
    permissions: 'Community'
    communityGalleryInfo: {
      publisherUri: communityGalleryPublisherUri
      publisherContact: communityGalleryPublisherContact
      eula: communityGalleryEula
      publicNamePrefix: communityGalleryPublicNamePrefix
    }
  }
} : {}

resource gallery 'Microsoft.Compute/galleries@2024-03-03' = {
  name: name
  location: location
  tags: tags
  properties: union({ description: galleryDescription }, communitySharing)
}

output name string = gallery.name
output id string = gallery.id
